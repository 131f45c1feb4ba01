//! Report types served by the admin API (`/v1/health`, `/v1/status`) and read back by the
//! CLI: capacity, health and the detailed status. All are plain serde structs; readers accept
//! missing fields (defaults) and unknown fields, so newer and older peers interoperate.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::config::{IntegrityMode, StorageMode};

/// Capacity and activity counters of the storage engine, as the engine reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityReport {
    /// Engine name, e.g. `memory`.
    pub engine: String,
    /// Bytes of raw capacity (memory budget or drive sizes).
    pub raw_bytes: u64,
    /// Bytes usable for values after metadata and reserves.
    pub usable_bytes: u64,
    /// Bytes used by stored values.
    pub used_bytes: u64,
    /// Keys stored.
    pub keys: u64,
    /// Values evicted to make room, since start.
    pub evictions: u64,
    /// Bytes of evicted values, since start.
    pub evicted_bytes: u64,
    /// Reads that found corrupt data (checksum mismatch), since start.
    pub corrupt_reads: u64,
    /// Drives in service.
    pub drives_online: u32,
    /// Drives out of service.
    pub drives_offline: u32,
    /// All configured drives.
    pub drives_total: u32,
    /// I/O engine driving the drives (`io_uring`, `std`); empty for memory mode.
    pub io_engine: String,
    /// Reads served from the RAM cache in front of the drives, since start.
    pub cache_hits: u64,
    /// Reads that had to go to the drives, since start.
    pub cache_misses: u64,
    /// Extents freed after all their records died, since start.
    pub trimmed_extents: u64,
    /// Freed extents discarded (TRIM, or punched holes in data files), since start.
    pub discarded_extents: u64,
    /// Per-drive detail (empty in memory mode).
    pub devices: Vec<DeviceReport>,
}

/// Liveness verdict of `/v1/health`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything is in service.
    #[default]
    Healthy,
    /// Serving, with some drives out of service.
    Degraded,
    /// Not able to serve.
    Unhealthy,
}

impl HealthStatus {
    /// The verdict for a drive count: no drives (memory mode) or all online is healthy, some
    /// offline is degraded, none online out of some is unhealthy.
    pub fn from_drives(online: u32, offline: u32) -> Self {
        match (online, offline) {
            (_, 0) => Self::Healthy,
            (0, _) => Self::Unhealthy,
            _ => Self::Degraded,
        }
    }

    /// HTTP status code of `/v1/health` for this verdict: 200, or 503 when unhealthy.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Healthy | Self::Degraded => 200,
            Self::Unhealthy => 503,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// Body of `/v1/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The verdict.
    pub status: HealthStatus,
    /// Whether an RDMA data path is serving (always `false` in this build).
    #[serde(default)]
    pub rdma_active: bool,
    /// Drives in service.
    #[serde(default)]
    pub drives_online: u32,
    /// Drives out of service.
    #[serde(default)]
    pub drives_offline: u32,
    /// All configured drives.
    #[serde(default)]
    pub drives_total: u32,
}

impl HealthReport {
    /// The health implied by an engine's capacity report.
    pub fn from_capacity(capacity: &CapacityReport, rdma_active: bool) -> Self {
        Self {
            status: HealthStatus::from_drives(capacity.drives_online, capacity.drives_offline),
            rdma_active,
            drives_online: capacity.drives_online,
            drives_offline: capacity.drives_offline,
            drives_total: capacity.drives_total,
        }
    }

    /// HTTP status code of `/v1/health`: 200 healthy or degraded, 503 unhealthy.
    pub fn http_status(&self) -> u16 {
        self.status.http_status()
    }
}

/// Body of `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Server version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// Data-plane listen address.
    pub address: SocketAddr,
    /// Admin API listen address.
    pub admin_address: SocketAddr,
    /// `storage.mode`.
    pub storage_mode: StorageMode,
    /// `network.integrity`.
    pub integrity: IntegrityMode,
    /// Memory settings.
    pub memory: MemoryReport,
    /// Storage capacity and usage.
    pub storage: StorageReport,
    /// Data-plane connections.
    pub connections: ConnectionsReport,
    /// Requests by operation name.
    #[serde(default)]
    pub ops: BTreeMap<String, OpReport>,
}

/// `memory` in `/v1/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryReport {
    /// `memory.max_size` in bytes.
    pub max_size: u64,
    /// `memory.block_size` in bytes.
    pub block_size: u64,
}

/// `storage` in `/v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageReport {
    /// Engine name.
    pub engine: String,
    /// Bytes of raw capacity.
    pub raw_bytes_total: u64,
    /// Bytes usable for values.
    pub usable_bytes_total: u64,
    /// Bytes used by values.
    pub used_bytes_total: u64,
    /// Keys stored.
    pub keys: u64,
    /// Values evicted since start.
    pub evictions_total: u64,
    /// Bytes evicted since start.
    pub evicted_bytes_total: u64,
    /// Corrupt reads since start.
    pub corrupt_reads_total: u64,
    /// Drives in service.
    pub drives_online: u32,
    /// Drives out of service.
    pub drives_offline: u32,
    /// All configured drives.
    pub drives_total: u32,
    /// Per-drive detail (empty in memory mode).
    pub devices: Vec<DeviceReport>,
    /// The I/O engine of the persistent engines: `io_uring` or `std` (empty in memory mode).
    pub io_engine: String,
    /// Reads served from the RAM cache in front of the drives, since start.
    pub cache_hits_total: u64,
    /// Reads that went to a drive, since start.
    pub cache_misses_total: u64,
}

impl StorageReport {
    /// The storage section for an engine's capacity report (with its per-drive detail).
    pub fn from_capacity(capacity: &CapacityReport) -> Self {
        let CapacityReport {
            engine,
            raw_bytes,
            usable_bytes,
            used_bytes,
            keys,
            evictions,
            evicted_bytes,
            corrupt_reads,
            drives_online,
            drives_offline,
            drives_total,
            io_engine,
            cache_hits,
            cache_misses,
            trimmed_extents: _,
            discarded_extents: _,
            devices,
        } = capacity.clone();
        Self {
            engine,
            raw_bytes_total: raw_bytes,
            usable_bytes_total: usable_bytes,
            used_bytes_total: used_bytes,
            keys,
            evictions_total: evictions,
            evicted_bytes_total: evicted_bytes,
            corrupt_reads_total: corrupt_reads,
            drives_online,
            drives_offline,
            drives_total,
            devices,
            io_engine,
            cache_hits_total: cache_hits,
            cache_misses_total: cache_misses,
        }
    }
}

/// One drive in `storage.devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceReport {
    /// Block device or file.
    pub media: String,
    /// Whether the drive is in service.
    pub state: DriveState,
    /// Bytes of raw capacity.
    pub raw_bytes: u64,
    /// Bytes usable for values.
    pub usable_bytes: u64,
    /// Bytes used by values.
    pub used_bytes: u64,
    /// Bytes written to the drive since the server started.
    pub written_bytes: u64,
    /// `fdatasync` calls completed on the drive since the server started.
    pub syncs: u64,
}

/// Whether a drive is in service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveState {
    /// In service.
    #[default]
    Online,
    /// Out of service.
    Offline,
}

/// `connections` in `/v1/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionsReport {
    /// Open now.
    pub active: u64,
    /// Accepted since start.
    pub total: u64,
    /// Refused since start (over `network.max_connections`).
    pub rejected: u64,
}

/// One operation in `ops`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpReport {
    /// Requests since start.
    pub requests: u64,
    /// Requests that failed, since start.
    pub errors: u64,
    /// Request bytes received, since start.
    pub bytes_in: u64,
    /// Response bytes sent, since start.
    pub bytes_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_json_matches_the_documented_shape() {
        let report = HealthReport {
            status: HealthStatus::Healthy,
            rdma_active: true,
            drives_online: 12,
            drives_offline: 0,
            drives_total: 12,
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"status":"healthy","rdma_active":true,"drives_online":12,"drives_offline":0,"drives_total":12}"#
        );
        // The original's macOS build sends `{status}` only.
        let short: HealthReport = serde_json::from_str(r#"{"status":"degraded"}"#).unwrap();
        assert_eq!(short.status, HealthStatus::Degraded);
        assert_eq!(short.drives_total, 0);
    }

    #[test]
    fn health_follows_the_drives() {
        assert_eq!(HealthStatus::from_drives(0, 0), HealthStatus::Healthy);
        assert_eq!(HealthStatus::from_drives(3, 0), HealthStatus::Healthy);
        assert_eq!(HealthStatus::from_drives(2, 1), HealthStatus::Degraded);
        assert_eq!(HealthStatus::from_drives(0, 3), HealthStatus::Unhealthy);
        assert_eq!(HealthStatus::Healthy.http_status(), 200);
        assert_eq!(HealthStatus::Degraded.http_status(), 200);
        assert_eq!(HealthStatus::Unhealthy.http_status(), 503);
        let capacity = CapacityReport {
            drives_online: 1,
            drives_offline: 1,
            drives_total: 2,
            ..Default::default()
        };
        let health = HealthReport::from_capacity(&capacity, false);
        assert_eq!(health.status, HealthStatus::Degraded);
        assert_eq!(health.http_status(), 200);
    }

    #[test]
    fn status_round_trips_and_uses_the_documented_field_names() {
        let capacity = CapacityReport {
            engine: "memory".into(),
            raw_bytes: 100,
            usable_bytes: 90,
            used_bytes: 10,
            keys: 3,
            ..Default::default()
        };
        let report = StatusReport {
            version: "0.0.0".into(),
            uptime_seconds: 7,
            address: "127.0.0.1:9900".parse().unwrap(),
            admin_address: "127.0.0.1:9901".parse().unwrap(),
            storage_mode: StorageMode::Memory,
            integrity: IntegrityMode::HmacSha256,
            memory: MemoryReport {
                max_size: 100,
                block_size: 2,
            },
            storage: StorageReport::from_capacity(&capacity),
            connections: ConnectionsReport {
                active: 1,
                total: 2,
                rejected: 0,
            },
            ops: BTreeMap::from([(
                "tcp_put".to_owned(),
                OpReport {
                    requests: 4,
                    errors: 1,
                    bytes_in: 400,
                    bytes_out: 0,
                },
            )]),
        };
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["storage"]["raw_bytes_total"], 100);
        assert_eq!(json["storage"]["usable_bytes_total"], 90);
        assert_eq!(json["storage"]["used_bytes_total"], 10);
        assert_eq!(json["address"], "127.0.0.1:9900");
        assert_eq!(json["storage_mode"], "memory");
        assert_eq!(json["integrity"], "hmac-sha256");
        assert_eq!(json["ops"]["tcp_put"]["requests"], 4);
        let back: StatusReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
