//! The maintainer scripts of packaging/package.toml, run for real (`/bin/sh` = busybox, as in
//! the rpm scratch root) inside a chroot, with the arguments dpkg and rpm pass them: the NIXL
//! plugin link is made when NIXL is there, kept over an upgrade, taken away on removal, and
//! never made over a real file or over a link that points somewhere else.
//!
//! Needs no release: it runs in seconds. Needs root (chroot, mknod), like the rest of the suite.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::harness::{cmd, repo, run, scratch, stdout};

const PLUGIN: &str = "/usr/lib/memkv/libplugin_MEMKV.so";
const NIXL_PLUGINS: &str = "/opt/nvidia/nvda_nixl/lib/plugins";
const LINK: &str = "/opt/nvidia/nvda_nixl/lib/plugins/libplugin_MEMKV.so";

/// `root`'s `bin/` holding busybox and a link per applet, plus `/dev/null` and `/tmp`: a
/// minimal root whose `/bin/sh` is busybox.
pub(crate) fn busybox_root(root: &Path) {
    for sub in ["bin", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copying /bin/busybox (busybox-static: run scripts/install-release-tools)");
    let applets = stdout(cmd("/bin/busybox").arg("--list"));
    for applet in applets.lines() {
        let _ = symlink("busybox", root.join("bin").join(applet));
    }
    run(cmd("mknod")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
    run(cmd("chmod").arg("666").arg(root.join("dev/null")));
}

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// A scratch root with the three scripts (at the paths the declaration names), the `memkv`
/// user already present (user creation is the rpm test's business), and a stand-in plugin.
struct Root {
    root: PathBuf,
}

impl Root {
    fn new(name: &str, nixl: bool) -> Self {
        let root = scratch(name).join("root");
        busybox_root(&root);
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nmemkv:x:999:999:memkv server:/var/lib/memkv:/sbin/nologin\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\nmemkv:x:999:\n").expect("group");
        let declaration: toml::Table = toml::from_str(
            &std::fs::read_to_string(repo().join("packaging/package.toml"))
                .expect("packaging/package.toml"),
        )
        .expect("package.toml parses");
        let scripts = declaration["scripts"].as_table().expect("[scripts]");
        std::fs::create_dir_all(root.join("scripts")).expect("mkdir");
        for which in ["postinstall", "preremove", "postremove"] {
            let path = scripts[which].as_str().expect("a script path");
            std::fs::copy(repo().join(path), root.join(format!("scripts/{which}")))
                .unwrap_or_else(|e| panic!("copying {path}: {e}"));
        }
        // A STAND-IN for the NIXL plugin, placed by this test only: the plugin member does not
        // exist yet, so no package ships /usr/lib/memkv/libplugin_MEMKV.so (its slot is empty,
        // see buildinfo.rs). The scripts only test that the file exists.
        let plugin = inside(&root, PLUGIN);
        std::fs::create_dir_all(plugin.parent().expect("parent")).expect("mkdir");
        std::fs::write(&plugin, "stand-in for libplugin_MEMKV.so (test fixture)\n")
            .expect("stand-in plugin");
        if nixl {
            std::fs::create_dir_all(inside(&root, NIXL_PLUGINS)).expect("NIXL plugin dir");
        }
        Self { root }
    }

    /// Runs `/scripts/<which> <args>` in the chroot; it must exit 0.
    fn script(&self, which: &str, args: &[&str]) -> String {
        let output = run(cmd("chroot")
            .arg(&self.root)
            .args(["/bin/sh", "-e", &format!("/scripts/{which}")])
            .args(args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    fn link(&self) -> PathBuf {
        inside(&self.root, LINK)
    }

    /// Where the link points, `None` when there is no link (or something that is not a link).
    fn link_target(&self) -> Option<String> {
        std::fs::read_link(self.link())
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }
}

/// deb: `postinst configure`, an upgrade (`prerm upgrade <new>`, then the new `postinst
/// configure <old>`), and `prerm remove` + `postrm remove`.
#[test]
fn deb_scripts_link_the_plugin_keep_it_on_upgrade_and_remove_it() {
    let root = Root::new("scripts-deb", true);
    root.script("postinstall", &["configure"]);
    assert_eq!(root.link_target().as_deref(), Some(PLUGIN));
    // The link resolves to the plugin inside the root.
    assert!(inside(&root.root, PLUGIN).is_file());

    root.script("preremove", &["upgrade", "20270101000000.0.0"]);
    assert_eq!(root.link_target().as_deref(), Some(PLUGIN), "prerm upgrade");
    root.script("postinstall", &["configure", "20261125120000.0.0"]);
    assert_eq!(
        root.link_target().as_deref(),
        Some(PLUGIN),
        "postinst on upgrade"
    );

    root.script("preremove", &["remove"]);
    assert!(
        root.link().symlink_metadata().is_err(),
        "prerm remove left the NIXL link"
    );
    root.script("postremove", &["remove"]);
    // The NIXL directory itself belongs to NIXL and stays.
    assert!(inside(&root.root, NIXL_PLUGINS).is_dir());
}

/// rpm: `%post 1` (install), an upgrade (new `%post 2`, then old `%preun 1`), `%preun 0` +
/// `%postun 0` (erase).
#[test]
fn rpm_scriptlets_link_the_plugin_keep_it_on_upgrade_and_remove_it() {
    let root = Root::new("scripts-rpm", true);
    root.script("postinstall", &["1"]);
    assert_eq!(root.link_target().as_deref(), Some(PLUGIN));

    root.script("postinstall", &["2"]);
    root.script("preremove", &["1"]);
    assert_eq!(root.link_target().as_deref(), Some(PLUGIN), "upgrade");

    root.script("preremove", &["0"]);
    assert!(
        root.link().symlink_metadata().is_err(),
        "%preun 0 left the NIXL link"
    );
    root.script("postremove", &["0"]);
}

/// A link the admin pointed at another build, and a real file, are never replaced or removed.
#[test]
fn scripts_leave_a_foreign_link_and_a_real_file_alone() {
    for (name, install, remove) in [
        ("scripts-foreign-deb", "configure", "remove"),
        ("scripts-foreign-rpm", "1", "0"),
    ] {
        let root = Root::new(name, true);
        let elsewhere = "/usr/lib/other-build/libplugin_MEMKV.so";
        symlink(elsewhere, root.link()).expect("foreign link");
        let said = root.script("postinstall", &[install]);
        assert_eq!(
            root.link_target().as_deref(),
            Some(elsewhere),
            "{name}: postinstall replaced a link to another build"
        );
        assert!(said.contains("left as it is"), "{name}: {said}");
        root.script("preremove", &[remove]);
        assert_eq!(
            root.link_target().as_deref(),
            Some(elsewhere),
            "{name}: preremove took away a link to another build"
        );
    }
    for (name, install, remove) in [
        ("scripts-file-deb", "configure", "remove"),
        ("scripts-file-rpm", "1", "0"),
    ] {
        let root = Root::new(name, true);
        let content = "the admin's own plugin, not a link\n";
        std::fs::write(root.link(), content).expect("real file");
        let said = root.script("postinstall", &[install]);
        assert!(said.contains("left as it is"), "{name}: {said}");
        root.script("preremove", &[remove]);
        let meta = root
            .link()
            .symlink_metadata()
            .expect("the file is still there");
        assert!(
            meta.file_type().is_file(),
            "{name}: the real file was replaced"
        );
        assert_eq!(
            std::fs::read_to_string(root.link()).expect("read"),
            content,
            "{name}"
        );
    }
}

/// Without NIXL nothing is created: no /opt/nvidia at all.
#[test]
fn scripts_create_nothing_without_the_nixl_directory() {
    for (name, install, remove) in [
        ("scripts-nonixl-deb", "configure", "remove"),
        ("scripts-nonixl-rpm", "1", "0"),
    ] {
        let root = Root::new(name, false);
        root.script("postinstall", &[install]);
        assert!(
            !root.root.join("opt").exists(),
            "{name}: postinstall created /opt without NIXL"
        );
        root.script("preremove", &[remove]);
        assert!(!root.root.join("opt").exists(), "{name}");
    }
}
