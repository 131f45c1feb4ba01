//! Fault injection: a test hook that makes a device's operations fail with `EIO`.
//!
//! A real drive cannot be told to fail on demand, and this kernel has no device-mapper
//! `error` target, so storage tests (which run the real binary) use this instead. It is
//! always compiled and costs one relaxed atomic load per operation until someone calls
//! [`IoEngine::inject_faults`](crate::IoEngine::inject_faults).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use crate::device::DeviceId;
use crate::request::OpClass;

/// Which operations on a device fail with `EIO`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Reads fail.
    pub fail_reads: bool,
    /// Writes fail, and so do `fdatasync` and discard (a dying drive fails its flushes too).
    pub fail_writes: bool,
}

impl FaultPlan {
    /// No faults: passing it removes a device's plan.
    pub const NONE: FaultPlan = FaultPlan {
        fail_reads: false,
        fail_writes: false,
    };

    /// Every operation fails, as on a drive that dropped off the bus.
    pub const DEAD: FaultPlan = FaultPlan {
        fail_reads: true,
        fail_writes: true,
    };

    fn fails(&self, class: OpClass) -> bool {
        match class {
            OpClass::Read => self.fail_reads,
            OpClass::Write | OpClass::Sync | OpClass::Discard => self.fail_writes,
        }
    }
}

/// The plans of one engine.
#[derive(Default)]
pub(crate) struct Faults {
    active: AtomicBool,
    plans: RwLock<HashMap<DeviceId, FaultPlan>>,
}

impl Faults {
    pub(crate) fn set(&self, id: DeviceId, plan: FaultPlan) {
        let mut plans = self.plans.write();
        if plan == FaultPlan::NONE {
            plans.remove(&id);
        } else {
            plans.insert(id, plan);
        }
        self.active.store(!plans.is_empty(), Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut plans = self.plans.write();
        plans.clear();
        self.active.store(false, Ordering::Release);
    }

    /// Whether an operation of `class` on `id` must fail.
    pub(crate) fn should_fail(&self, id: DeviceId, class: OpClass) -> bool {
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        self.plans
            .read()
            .get(&id)
            .is_some_and(|plan| plan.fails(class))
    }
}
