//! Checks every structure and constant of xen-abi against the real Xen public headers.
//!
//! `tests/layout.c` includes Debian's libxen-dev headers (`/usr/include/xen`) and prints one
//! line per fact (a size, an alignment, a field offset or size, a constant's value). This test
//! compiles and runs it, computes the same facts on the Rust side (`size_of`, `align_of`,
//! `offset_of!`, the constants) and compares them one by one, reporting every problem at once.
//!
//! It cannot pass vacuously:
//! - every fact printed by the C program needs a Rust counterpart and vice versa, and the number
//!   of facts compared must equal the number the C program printed (its last line says how
//!   many it printed, so a truncated output is noticed too);
//! - each struct is listed here with an exhaustive pattern, so a field added on the Rust side
//!   without a line here does not compile;
//! - the sources in `src/` are scanned for constants, flags and types: each one must be checked
//!   here or be in [`RUST_ONLY`] with the reason the headers have nothing to compare it with.
//!
//! Missing headers are a failure, not a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use xen_abi::{
    blkif, console, consts, evtchn_fifo, flags, grant_table, hvm, hypercall, netif, xen, xs_wire,
};

/// Where Debian's libxen-dev puts the Xen public headers.
const XEN_INCLUDE_DIR: &str = "/usr/include/xen";
/// Xen 4.17, `__XEN_LATEST_INTERFACE_VERSION__` of the headers (xen-compat.h).
const XEN_INTERFACE_VERSION: &str = "0x00040e00";
const HEADERS_MISSING: &str = "Xen public headers not found in /usr/include/xen: install \
                               Debian's libxen-dev (./minios setup does this)";
const LAYOUT_C: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/layout.c");
const SRC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Items of `src/` that the headers define nothing to compare with, and why.
const RUST_ONLY: &[(&str, &str)] = &[
    (
        "consts::HYPERCALL_STUB_SIZE",
        "xen-x86_64.h gives the stub size only in a comment (`hypercall_page + nr * 32`)",
    ),
    ("flags::PteFlags::PRESENT", PTE),
    ("flags::PteFlags::RW", PTE),
    ("flags::PteFlags::USER", PTE),
    ("flags::PteFlags::PWT", PTE),
    ("flags::PteFlags::PCD", PTE),
    ("flags::PteFlags::ACCESSED", PTE),
    ("flags::PteFlags::DIRTY", PTE),
    ("flags::PteFlags::PSE", PTE),
    ("flags::PteFlags::GLOBAL", PTE),
    ("flags::PteFlags::NX", PTE),
    ("flags::PteFlags::ADDR_MASK", PTE),
];
const PTE: &str = "x86 page-table entry format (Intel SDM): Xen's public headers do not define it";

/// One fact of the Rust side.
struct Fact {
    /// The C program's line without its value, e.g. `offset start_info console.domU.mfn`.
    key: String,
    value: i128,
    /// The Rust expression the value comes from, for the failure message.
    rust: String,
}

#[derive(Default)]
struct RustSide {
    facts: Vec<Fact>,
    /// Paths (relative to the crate root, e.g. `xen::StartInfo`) of the types checked.
    types: Vec<String>,
    /// Paths of the constants and flags checked, e.g. `consts::schedop::BLOCK`.
    consts: Vec<String>,
}

impl RustSide {
    fn push(&mut self, key: String, value: i128, rust: String) {
        self.facts.push(Fact { key, value, rust });
    }

    fn ty<T>(&mut self, rust: &str, c: &str) {
        self.types.push(rust.to_owned());
        self.push(
            format!("size {c}"),
            core::mem::size_of::<T>() as i128,
            format!("size_of::<{rust}>()"),
        );
        self.push(
            format!("align {c}"),
            core::mem::align_of::<T>() as i128,
            format!("align_of::<{rust}>()"),
        );
    }

    fn field(&mut self, rust: &str, c: &str, offset: usize, size: usize) {
        let (rust_ty, rust_field) = rust.split_once('.').expect("Type.field");
        self.push(
            format!("offset {c}"),
            offset as i128,
            format!("offset_of!({rust_ty}, {rust_field})"),
        );
        self.push(
            format!("fieldsize {c}"),
            size as i128,
            format!("size of {rust}"),
        );
    }

    fn constant(&mut self, rust: &str, c: &str, value: i128) {
        let rust: String = rust.chars().filter(|c| !c.is_whitespace()).collect();
        self.push(format!("const {c}"), value, rust.clone());
        self.consts.push(rust);
    }
}

/// The size of the field `get` projects to, without needing a value of `S`.
fn field_size<S, F>(_get: fn(&S) -> &F) -> usize {
    core::mem::size_of::<F>()
}

/// `layout!(side, module::Type as "c_type" { rust_field as "c_field", ... })`: size, alignment
/// and every field's offset and size. The list must name every field of the Rust struct.
macro_rules! layout {
    ($side:ident, $m:ident :: $t:ident as $c:literal { $($f:ident as $cf:literal),+ $(,)? }) => {{
        // Exhaustive: adding a field to the Rust struct without listing it here fails to compile
        // (rustc may say "pattern requires `..` due to inaccessible fields"): list the new field.
        fn _every_field_is_listed(v: &$m::$t) {
            let $m::$t { $($f: _),+ } = v;
        }
        $side.ty::<$m::$t>(concat!(stringify!($m), "::", stringify!($t)), $c);
        $(
            $side.field(
                concat!(stringify!($m), "::", stringify!($t), ".", stringify!($f)),
                concat!($c, " ", $cf),
                core::mem::offset_of!($m::$t, $f),
                field_size::<$m::$t, _>(|v| &v.$f),
            );
        )+
    }};
}

/// `constant!(side, path::TO::CONST as "C_NAME")` for an integer constant.
macro_rules! constant {
    ($side:ident, $p:path as $c:literal) => {
        $side.constant(stringify!($p), $c, $p as i128)
    };
}

/// `flag!(side, flags::Type::FLAG as "C_NAME")` for a `bitflags` flag.
macro_rules! flag {
    ($side:ident, $p:path as $c:literal) => {
        $side.constant(stringify!($p), $c, $p.bits() as i128)
    };
}

/// Every fact of the Rust side, in the order of layout.c.
fn rust_side() -> RustSide {
    let mut s = RustSide::default();

    layout!(s, xen::StartInfo as "start_info" {
        magic as "magic",
        nr_pages as "nr_pages",
        shared_info as "shared_info",
        flags as "flags",
        store_mfn as "store_mfn",
        store_evtchn as "store_evtchn",
        // Rust keeps only the domU member of the C union `console`.
        console as "console",
        pt_base as "pt_base",
        nr_pt_frames as "nr_pt_frames",
        mfn_list as "mfn_list",
        mod_start as "mod_start",
        mod_len as "mod_len",
        cmd_line as "cmd_line",
        first_p2m_pfn as "first_p2m_pfn",
        nr_p2m_frames as "nr_p2m_frames",
    });
    s.field(
        "xen::StartInfo.console.mfn",
        "start_info console.domU.mfn",
        core::mem::offset_of!(xen::StartInfo, console.mfn),
        field_size::<xen::StartInfo, _>(|v| &v.console.mfn),
    );
    s.field(
        "xen::StartInfo.console.evtchn",
        "start_info console.domU.evtchn",
        core::mem::offset_of!(xen::StartInfo, console.evtchn),
        field_size::<xen::StartInfo, _>(|v| &v.console.evtchn),
    );
    layout!(s, xen::StartInfoConsole as "start_info.console.domU" {
        mfn as "mfn",
        evtchn as "evtchn",
    });
    layout!(s, xen::VcpuTimeInfo as "vcpu_time_info" {
        version as "version",
        pad0 as "pad0",
        tsc_timestamp as "tsc_timestamp",
        system_time as "system_time",
        tsc_to_system_mul as "tsc_to_system_mul",
        tsc_shift as "tsc_shift",
        flags as "flags",
        pad1 as "pad1",
    });
    layout!(s, xen::ArchVcpuInfo as "arch_vcpu_info" {
        cr2 as "cr2",
        pad as "pad",
    });
    layout!(s, xen::VcpuInfo as "vcpu_info" {
        evtchn_upcall_pending as "evtchn_upcall_pending",
        evtchn_upcall_mask as "evtchn_upcall_mask",
        // Padding that C leaves implicit; layout.c computes the gap.
        pad0 as "(padding-before-evtchn_pending_sel)",
        evtchn_pending_sel as "evtchn_pending_sel",
        arch as "arch",
        time as "time",
    });
    layout!(s, xen::ArchSharedInfo as "arch_shared_info" {
        max_pfn as "max_pfn",
        pfn_to_mfn_frame_list_list as "pfn_to_mfn_frame_list_list",
        nmi_reason as "nmi_reason",
        p2m_cr3 as "p2m_cr3",
        p2m_vaddr as "p2m_vaddr",
        p2m_generation as "p2m_generation",
    });
    layout!(s, xen::SharedInfo as "shared_info" {
        vcpu_info as "vcpu_info",
        evtchn_pending as "evtchn_pending",
        evtchn_mask as "evtchn_mask",
        wc_version as "wc_version",
        wc_sec as "wc_sec",
        wc_nsec as "wc_nsec",
        wc_sec_hi as "wc_sec_hi",
        arch as "arch",
    });
    layout!(s, console::XenconsInterface as "xencons_interface" {
        input as "in",
        output as "out",
        in_cons as "in_cons",
        in_prod as "in_prod",
        out_cons as "out_cons",
        out_prod as "out_prod",
    });
    constant!(s, console::XENCONS_IN_SIZE as "sizeof(xencons_interface.in)");
    constant!(s, console::XENCONS_OUT_SIZE as "sizeof(xencons_interface.out)");
    layout!(s, xs_wire::XsdSockmsg as "xsd_sockmsg" {
        ty as "type",
        req_id as "req_id",
        tx_id as "tx_id",
        len as "len",
    });
    layout!(s, xs_wire::XenstoreDomainInterface as "xenstore_domain_interface" {
        req as "req",
        rsp as "rsp",
        req_cons as "req_cons",
        req_prod as "req_prod",
        rsp_cons as "rsp_cons",
        rsp_prod as "rsp_prod",
        server_features as "server_features",
        connection as "connection",
        error as "error",
    });
    constant!(s, xs_wire::XS_CONTROL as "XS_CONTROL");
    constant!(s, xs_wire::XS_DEBUG as "XS_DEBUG");
    constant!(s, xs_wire::XS_DIRECTORY as "XS_DIRECTORY");
    constant!(s, xs_wire::XS_READ as "XS_READ");
    constant!(s, xs_wire::XS_GET_PERMS as "XS_GET_PERMS");
    constant!(s, xs_wire::XS_WATCH as "XS_WATCH");
    constant!(s, xs_wire::XS_UNWATCH as "XS_UNWATCH");
    constant!(s, xs_wire::XS_TRANSACTION_START as "XS_TRANSACTION_START");
    constant!(s, xs_wire::XS_TRANSACTION_END as "XS_TRANSACTION_END");
    constant!(s, xs_wire::XS_INTRODUCE as "XS_INTRODUCE");
    constant!(s, xs_wire::XS_RELEASE as "XS_RELEASE");
    constant!(s, xs_wire::XS_GET_DOMAIN_PATH as "XS_GET_DOMAIN_PATH");
    constant!(s, xs_wire::XS_WRITE as "XS_WRITE");
    constant!(s, xs_wire::XS_MKDIR as "XS_MKDIR");
    constant!(s, xs_wire::XS_RM as "XS_RM");
    constant!(s, xs_wire::XS_SET_PERMS as "XS_SET_PERMS");
    constant!(s, xs_wire::XS_WATCH_EVENT as "XS_WATCH_EVENT");
    constant!(s, xs_wire::XS_ERROR as "XS_ERROR");
    constant!(s, xs_wire::XS_IS_DOMAIN_INTRODUCED as "XS_IS_DOMAIN_INTRODUCED");
    constant!(s, xs_wire::XS_RESUME as "XS_RESUME");
    constant!(s, xs_wire::XS_SET_TARGET as "XS_SET_TARGET");
    constant!(s, xs_wire::XS_RESET_WATCHES as "XS_RESET_WATCHES");
    constant!(s, xs_wire::XS_DIRECTORY_PART as "XS_DIRECTORY_PART");
    constant!(s, xs_wire::XS_TYPE_COUNT as "XS_TYPE_COUNT");
    constant!(s, xs_wire::XS_INVALID as "XS_INVALID");
    constant!(s, xs_wire::XS_WATCH_PATH as "XS_WATCH_PATH");
    constant!(s, xs_wire::XS_WATCH_TOKEN as "XS_WATCH_TOKEN");
    constant!(s, xs_wire::XENSTORE_RING_SIZE as "XENSTORE_RING_SIZE");
    constant!(s, xs_wire::XENSTORE_PAYLOAD_MAX as "XENSTORE_PAYLOAD_MAX");
    constant!(s, xs_wire::XENSTORE_ABS_PATH_MAX as "XENSTORE_ABS_PATH_MAX");
    constant!(s, xs_wire::XENSTORE_REL_PATH_MAX as "XENSTORE_REL_PATH_MAX");
    constant!(s, xs_wire::XENSTORE_SERVER_FEATURE_RECONNECTION as "XENSTORE_SERVER_FEATURE_RECONNECTION");
    constant!(s, xs_wire::XENSTORE_SERVER_FEATURE_ERROR as "XENSTORE_SERVER_FEATURE_ERROR");
    constant!(s, xs_wire::XENSTORE_CONNECTED as "XENSTORE_CONNECTED");
    constant!(s, xs_wire::XENSTORE_RECONNECT as "XENSTORE_RECONNECT");
    constant!(s, xs_wire::XENSTORE_ERROR_NONE as "XENSTORE_ERROR_NONE");
    constant!(s, xs_wire::XENSTORE_ERROR_COMM as "XENSTORE_ERROR_COMM");
    constant!(s, xs_wire::XENSTORE_ERROR_RINGIDX as "XENSTORE_ERROR_RINGIDX");
    constant!(s, xs_wire::XENSTORE_ERROR_PROTO as "XENSTORE_ERROR_PROTO");

    constant!(s, xs_wire::xenbus_state::UNKNOWN as "XenbusStateUnknown");
    constant!(s, xs_wire::xenbus_state::INITIALISING as "XenbusStateInitialising");
    constant!(s, xs_wire::xenbus_state::INIT_WAIT as "XenbusStateInitWait");
    constant!(s, xs_wire::xenbus_state::INITIALISED as "XenbusStateInitialised");
    constant!(s, xs_wire::xenbus_state::CONNECTED as "XenbusStateConnected");
    constant!(s, xs_wire::xenbus_state::CLOSING as "XenbusStateClosing");
    constant!(s, xs_wire::xenbus_state::CLOSED as "XenbusStateClosed");
    constant!(s, xs_wire::xenbus_state::RECONFIGURING as "XenbusStateReconfiguring");
    constant!(s, xs_wire::xenbus_state::RECONFIGURED as "XenbusStateReconfigured");
    layout!(s, hypercall::TrapInfo as "trap_info" {
        vector as "vector",
        flags as "flags",
        cs as "cs",
        address as "address",
    });
    layout!(s, hypercall::MmuUpdate as "mmu_update" {
        ptr as "ptr",
        val as "val",
    });
    layout!(s, hypercall::MmuextOp as "mmuext_op" {
        cmd as "cmd",
        arg1 as "arg1",
        arg2 as "arg2",
    });
    layout!(s, hypercall::SchedShutdown as "sched_shutdown" {
        reason as "reason",
    });
    layout!(s, hypercall::EvtchnSend as "evtchn_send" {
        port as "port",
    });
    layout!(s, hypercall::EvtchnBindVirq as "evtchn_bind_virq" {
        virq as "virq",
        vcpu as "vcpu",
        port as "port",
    });
    layout!(s, hypercall::EvtchnAllocUnbound as "evtchn_alloc_unbound" {
        dom as "dom",
        remote_dom as "remote_dom",
        port as "port",
    });
    layout!(s, hypercall::EvtchnBindInterdomain as "evtchn_bind_interdomain" {
        remote_dom as "remote_dom",
        remote_port as "remote_port",
        local_port as "local_port",
    });
    layout!(s, hypercall::EvtchnBindIpi as "evtchn_bind_ipi" {
        vcpu as "vcpu",
        port as "port",
    });
    layout!(s, hypercall::EvtchnClose as "evtchn_close" {
        port as "port",
    });
    layout!(s, hypercall::EvtchnBindVcpu as "evtchn_bind_vcpu" {
        port as "port",
        vcpu as "vcpu",
    });
    layout!(s, hypercall::EvtchnUnmask as "evtchn_unmask" {
        port as "port",
    });
    layout!(s, hypercall::EvtchnReset as "evtchn_reset" {
        dom as "dom",
    });
    layout!(s, hypercall::EvtchnInitControl as "evtchn_init_control" {
        control_gfn as "control_gfn",
        offset as "offset",
        vcpu as "vcpu",
        link_bits as "link_bits",
        pad as "_pad",
    });
    layout!(s, hypercall::EvtchnExpandArray as "evtchn_expand_array" {
        array_gfn as "array_gfn",
    });
    layout!(s, grant_table::GrantEntryV1 as "grant_entry_v1" {
        flags as "flags",
        domid as "domid",
        frame as "frame",
    });
    layout!(s, grant_table::GnttabSetupTable as "gnttab_setup_table" {
        dom as "dom",
        nr_frames as "nr_frames",
        status as "status",
        frame_list as "frame_list",
    });
    layout!(s, grant_table::GnttabQuerySize as "gnttab_query_size" {
        dom as "dom",
        nr_frames as "nr_frames",
        max_nr_frames as "max_nr_frames",
        status as "status",
    });
    layout!(s, hypercall::EvtchnSetPriority as "evtchn_set_priority" {
        port as "port",
        priority as "priority",
    });
    layout!(s, evtchn_fifo::EvtchnFifoControlBlock as "evtchn_fifo_control_block" {
        ready as "ready",
        rsvd as "_rsvd",
        head as "head",
    });
    // The FIFO event word: xen-abi has no type for it (the guest sees it as an AtomicU32 of a
    // shared page); check that it is a 4-byte, 4-aligned u32 as the evtchn crate assumes.
    s.push(
        "size event_word_t".to_owned(),
        4,
        "size_of::<u32>()".to_owned(),
    );
    s.push(
        "align event_word_t".to_owned(),
        4,
        "align_of::<u32>()".to_owned(),
    );
    layout!(s, hypercall::CallbackRegister as "callback_register" {
        ty as "type",
        flags as "flags",
        address as "address",
    });
    layout!(s, hypercall::IretContext as "iret_context" {
        rax as "rax",
        r11 as "r11",
        rcx as "rcx",
        flags as "flags",
        rip as "rip",
        cs as "cs",
        rflags as "rflags",
        rsp as "rsp",
        ss as "ss",
    });
    s.ty::<hypercall::XenExtraversion>("hypercall::XenExtraversion", "xen_extraversion_t");

    constant!(s, consts::hypercall_nr::SET_TRAP_TABLE as "__HYPERVISOR_set_trap_table");
    constant!(s, consts::hypercall_nr::MMU_UPDATE as "__HYPERVISOR_mmu_update");
    constant!(s, consts::hypercall_nr::SET_CALLBACKS as "__HYPERVISOR_set_callbacks");
    constant!(s, consts::hypercall_nr::MEMORY_OP as "__HYPERVISOR_memory_op");
    constant!(s, consts::hypercall_nr::UPDATE_VA_MAPPING as "__HYPERVISOR_update_va_mapping");
    constant!(s, consts::hypercall_nr::SET_TIMER_OP as "__HYPERVISOR_set_timer_op");
    constant!(s, consts::hypercall_nr::XEN_VERSION as "__HYPERVISOR_xen_version");
    constant!(s, consts::hypercall_nr::CONSOLE_IO as "__HYPERVISOR_console_io");
    constant!(s, consts::hypercall_nr::GRANT_TABLE_OP as "__HYPERVISOR_grant_table_op");
    constant!(s, consts::hypercall_nr::VM_ASSIST as "__HYPERVISOR_vm_assist");
    constant!(s, consts::hypercall_nr::IRET as "__HYPERVISOR_iret");
    constant!(s, consts::hypercall_nr::VCPU_OP as "__HYPERVISOR_vcpu_op");
    constant!(s, consts::hypercall_nr::MMUEXT_OP as "__HYPERVISOR_mmuext_op");
    constant!(s, consts::hypercall_nr::SCHED_OP as "__HYPERVISOR_sched_op");
    constant!(s, consts::hypercall_nr::CALLBACK_OP as "__HYPERVISOR_callback_op");
    constant!(s, consts::hypercall_nr::EVENT_CHANNEL_OP as "__HYPERVISOR_event_channel_op");
    constant!(s, consts::hypercall_nr::HVM_OP as "__HYPERVISOR_hvm_op");

    constant!(s, consts::schedop::YIELD as "SCHEDOP_yield");
    constant!(s, consts::schedop::BLOCK as "SCHEDOP_block");
    constant!(s, consts::schedop::SHUTDOWN as "SCHEDOP_shutdown");
    constant!(s, consts::schedop::POLL as "SCHEDOP_poll");
    constant!(s, consts::shutdown::POWEROFF as "SHUTDOWN_poweroff");
    constant!(s, consts::shutdown::REBOOT as "SHUTDOWN_reboot");
    constant!(s, consts::shutdown::SUSPEND as "SHUTDOWN_suspend");
    constant!(s, consts::shutdown::CRASH as "SHUTDOWN_crash");

    constant!(s, consts::evtchnop::BIND_INTERDOMAIN as "EVTCHNOP_bind_interdomain");
    constant!(s, consts::evtchnop::BIND_VIRQ as "EVTCHNOP_bind_virq");
    constant!(s, consts::evtchnop::CLOSE as "EVTCHNOP_close");
    constant!(s, consts::evtchnop::SEND as "EVTCHNOP_send");
    constant!(s, consts::evtchnop::STATUS as "EVTCHNOP_status");
    constant!(s, consts::evtchnop::ALLOC_UNBOUND as "EVTCHNOP_alloc_unbound");
    constant!(s, consts::evtchnop::BIND_IPI as "EVTCHNOP_bind_ipi");
    constant!(s, consts::evtchnop::UNMASK as "EVTCHNOP_unmask");
    constant!(s, consts::evtchnop::INIT_CONTROL as "EVTCHNOP_init_control");
    constant!(s, consts::evtchnop::EXPAND_ARRAY as "EVTCHNOP_expand_array");
    constant!(s, consts::evtchnop::SET_PRIORITY as "EVTCHNOP_set_priority");
    constant!(s, consts::evtchnop::BIND_PIRQ as "EVTCHNOP_bind_pirq");
    constant!(s, consts::evtchnop::BIND_VCPU as "EVTCHNOP_bind_vcpu");
    constant!(s, consts::evtchnop::RESET as "EVTCHNOP_reset");
    constant!(s, consts::EVTCHN_2L_NR_CHANNELS as "EVTCHN_2L_NR_CHANNELS");
    constant!(s, consts::evtchn_fifo::PRIORITY_MAX as "EVTCHN_FIFO_PRIORITY_MAX");
    constant!(s, consts::evtchn_fifo::PRIORITY_DEFAULT as "EVTCHN_FIFO_PRIORITY_DEFAULT");
    constant!(s, consts::evtchn_fifo::PRIORITY_MIN as "EVTCHN_FIFO_PRIORITY_MIN");
    constant!(s, consts::evtchn_fifo::MAX_QUEUES as "EVTCHN_FIFO_MAX_QUEUES");
    constant!(s, consts::evtchn_fifo::PENDING as "EVTCHN_FIFO_PENDING");
    constant!(s, consts::evtchn_fifo::MASKED as "EVTCHN_FIFO_MASKED");
    constant!(s, consts::evtchn_fifo::LINKED as "EVTCHN_FIFO_LINKED");
    constant!(s, consts::evtchn_fifo::BUSY as "EVTCHN_FIFO_BUSY");
    constant!(s, consts::evtchn_fifo::LINK_BITS as "EVTCHN_FIFO_LINK_BITS");
    constant!(s, consts::evtchn_fifo::LINK_MASK as "EVTCHN_FIFO_LINK_MASK");
    constant!(s, consts::evtchn_fifo::NR_CHANNELS as "EVTCHN_FIFO_NR_CHANNELS");

    constant!(s, consts::consoleio::WRITE as "CONSOLEIO_write");
    constant!(s, consts::consoleio::READ as "CONSOLEIO_read");

    constant!(s, consts::xenver::VERSION as "XENVER_version");
    constant!(s, consts::xenver::EXTRAVERSION as "XENVER_extraversion");
    constant!(s, consts::xenver::GET_FEATURES as "XENVER_get_features");

    constant!(s, consts::uvmf::NONE as "UVMF_NONE");
    constant!(s, consts::uvmf::TLB_FLUSH as "UVMF_TLB_FLUSH");
    constant!(s, consts::uvmf::INVLPG as "UVMF_INVLPG");
    constant!(s, consts::mmuext::PIN_L1_TABLE as "MMUEXT_PIN_L1_TABLE");
    constant!(s, consts::mmuext::UNPIN_TABLE as "MMUEXT_UNPIN_TABLE");
    constant!(s, consts::mmuext::TLB_FLUSH_LOCAL as "MMUEXT_TLB_FLUSH_LOCAL");
    constant!(s, consts::mmuext::INVLPG_LOCAL as "MMUEXT_INVLPG_LOCAL");
    constant!(s, consts::mmu::NORMAL_PT_UPDATE as "MMU_NORMAL_PT_UPDATE");
    constant!(s, consts::mmu::MACHPHYS_UPDATE as "MMU_MACHPHYS_UPDATE");
    constant!(s, consts::virq::TIMER as "VIRQ_TIMER");
    constant!(s, consts::virq::DEBUG as "VIRQ_DEBUG");
    constant!(s, consts::virq::CONSOLE as "VIRQ_CONSOLE");
    constant!(s, consts::virq::XENOPROF as "VIRQ_XENOPROF");
    constant!(s, consts::virq::XENPMU as "VIRQ_XENPMU");
    constant!(s, consts::virq::NR_VIRQS as "NR_VIRQS");

    constant!(s, consts::callbacktype::EVENT as "CALLBACKTYPE_event");
    constant!(s, consts::callbacktype::FAILSAFE as "CALLBACKTYPE_failsafe");

    constant!(s, consts::DOMID_SELF as "DOMID_SELF");
    constant!(s, consts::FLAT_KERNEL_CS as "FLAT_KERNEL_CS");
    constant!(s, consts::FLAT_KERNEL_SS as "FLAT_KERNEL_SS");
    constant!(s, consts::MACH2PHYS_VIRT_START as "MACH2PHYS_VIRT_START");
    constant!(s, consts::MACH2PHYS_VIRT_END as "MACH2PHYS_VIRT_END");
    constant!(s, consts::HYPERVISOR_VIRT_START as "HYPERVISOR_VIRT_START");
    constant!(s, consts::LEGACY_MAX_VCPUS as "XEN_LEGACY_MAX_VCPUS");
    constant!(s, consts::MAX_GUEST_CMDLINE as "MAX_GUEST_CMDLINE");

    constant!(s, consts::PAGE_SHIFT as "XEN_PAGE_SHIFT");
    constant!(s, consts::PAGE_SIZE as "1<<XEN_PAGE_SHIFT");

    constant!(s, grant_table::GNTTABOP_SETUP_TABLE as "GNTTABOP_setup_table");
    constant!(s, grant_table::GNTTABOP_QUERY_SIZE as "GNTTABOP_query_size");
    constant!(s, grant_table::GNTTAB_NR_RESERVED_ENTRIES as "GNTTAB_NR_RESERVED_ENTRIES");
    constant!(s, grant_table::GRANT_ENTRIES_V1_PER_FRAME as "grant_entries_v1_per_frame");
    for (rust, c, v) in [
        (
            "grant_table::GNTST_OKAY",
            "-GNTST_okay",
            grant_table::GNTST_OKAY,
        ),
        (
            "grant_table::GNTST_GENERAL_ERROR",
            "-GNTST_general_error",
            grant_table::GNTST_GENERAL_ERROR,
        ),
        (
            "grant_table::GNTST_BAD_DOMAIN",
            "-GNTST_bad_domain",
            grant_table::GNTST_BAD_DOMAIN,
        ),
        (
            "grant_table::GNTST_BAD_GNTREF",
            "-GNTST_bad_gntref",
            grant_table::GNTST_BAD_GNTREF,
        ),
        (
            "grant_table::GNTST_PERMISSION_DENIED",
            "-GNTST_permission_denied",
            grant_table::GNTST_PERMISSION_DENIED,
        ),
        (
            "grant_table::GNTST_EAGAIN",
            "-GNTST_eagain",
            grant_table::GNTST_EAGAIN,
        ),
        (
            "grant_table::GNTST_NO_SPACE",
            "-GNTST_no_space",
            grant_table::GNTST_NO_SPACE,
        ),
    ] {
        s.constant(rust, c, -i128::from(v));
    }
    constant!(s, consts::errno::EPERM as "XEN_EPERM");
    constant!(s, consts::errno::ENOENT as "XEN_ENOENT");
    constant!(s, consts::errno::ESRCH as "XEN_ESRCH");
    // Hypervisor-internal in errno.h (`#ifdef __XEN__`); layout.c reads it as such.
    constant!(s, consts::errno::EINTR as "XEN_INTERNAL_EINTR");
    constant!(s, consts::errno::EIO as "XEN_EIO");
    constant!(s, consts::errno::ENXIO as "XEN_ENXIO");
    constant!(s, consts::errno::E2BIG as "XEN_E2BIG");
    constant!(s, consts::errno::ENOMEM as "XEN_ENOMEM");
    constant!(s, consts::errno::EACCES as "XEN_EACCES");
    constant!(s, consts::errno::EFAULT as "XEN_EFAULT");
    constant!(s, consts::errno::EBUSY as "XEN_EBUSY");
    constant!(s, consts::errno::EEXIST as "XEN_EEXIST");
    constant!(s, consts::errno::ENODEV as "XEN_ENODEV");
    constant!(s, consts::errno::EINVAL as "XEN_EINVAL");
    constant!(s, consts::errno::ENOSPC as "XEN_ENOSPC");
    constant!(s, consts::errno::EAGAIN as "XEN_EAGAIN");
    constant!(s, consts::errno::ENOSYS as "XEN_ENOSYS");
    constant!(s, consts::errno::EOPNOTSUPP as "XEN_EOPNOTSUPP");

    flag!(s, flags::SifFlags::PRIVILEGED as "SIF_PRIVILEGED");
    flag!(s, flags::SifFlags::INITDOMAIN as "SIF_INITDOMAIN");
    flag!(s, flags::SifFlags::MULTIBOOT_MOD as "SIF_MULTIBOOT_MOD");
    flag!(s, flags::SifFlags::MOD_START_PFN as "SIF_MOD_START_PFN");
    flag!(s, flags::SifFlags::VIRT_P2M_4TOOLS as "SIF_VIRT_P2M_4TOOLS");

    flag!(s, flags::VgcfFlags::I387_VALID as "VGCF_i387_valid");
    flag!(s, flags::VgcfFlags::IN_KERNEL as "VGCF_in_kernel");
    flag!(s, flags::VgcfFlags::FAILSAFE_DISABLES_EVENTS as "VGCF_failsafe_disables_events");
    flag!(s, flags::VgcfFlags::SYSCALL_DISABLES_EVENTS as "VGCF_syscall_disables_events");
    flag!(s, flags::VgcfFlags::ONLINE as "VGCF_online");
    flag!(s, flags::VgcfFlags::IN_SYSCALL as "VGCF_in_syscall");

    flag!(s, flags::GtfFlags::PERMIT_ACCESS as "GTF_permit_access");
    flag!(s, flags::GtfFlags::ACCEPT_TRANSFER as "GTF_accept_transfer");
    flag!(s, flags::GtfFlags::READONLY as "GTF_readonly");
    flag!(s, flags::GtfFlags::READING as "GTF_reading");
    flag!(s, flags::GtfFlags::WRITING as "GTF_writing");
    flag!(s, flags::GtfFlags::PWT as "GTF_PWT");
    flag!(s, flags::GtfFlags::PCD as "GTF_PCD");
    flag!(s, flags::GtfFlags::PAT as "GTF_PAT");
    flag!(s, flags::GtfFlags::SUB_PAGE as "GTF_sub_page");
    constant!(s, flags::GtfFlags::TYPE_MASK as "GTF_type_mask");

    flag!(s, flags::TrapFlags::DPL0 as "TI_SET_DPL(0)");
    flag!(s, flags::TrapFlags::DPL3 as "TI_SET_DPL(3)");
    flag!(s, flags::TrapFlags::MASK_EVENTS as "TI_SET_IF(1)");

    // PVH / HVM (hvm.rs)
    layout!(s, hvm::HvmStartInfo as "hvm_start_info" {
        magic as "magic",
        version as "version",
        flags as "flags",
        nr_modules as "nr_modules",
        modlist_paddr as "modlist_paddr",
        cmdline_paddr as "cmdline_paddr",
        rsdp_paddr as "rsdp_paddr",
        memmap_paddr as "memmap_paddr",
        memmap_entries as "memmap_entries",
        reserved as "reserved",
    });
    layout!(s, hvm::HvmMemmapTableEntry as "hvm_memmap_table_entry" {
        addr as "addr",
        size as "size",
        ty as "type",
        reserved as "reserved",
    });
    layout!(s, hvm::XenHvmParam as "xen_hvm_param" {
        domid as "domid",
        pad as "pad",
        index as "index",
        value as "value",
    });
    layout!(s, hvm::XenAddToPhysmap as "xen_add_to_physmap" {
        domid as "domid",
        size as "size",
        space as "space",
        idx as "idx",
        gpfn as "gpfn",
    });
    constant!(s, hvm::XEN_HVM_START_MAGIC_VALUE as "XEN_HVM_START_MAGIC_VALUE");
    constant!(s, hvm::XEN_ELFNOTE_PHYS32_ENTRY as "XEN_ELFNOTE_PHYS32_ENTRY");
    constant!(s, hvm::XEN_HVM_MEMMAP_TYPE_RAM as "XEN_HVM_MEMMAP_TYPE_RAM");
    constant!(s, hvm::XEN_HVM_MEMMAP_TYPE_RESERVED as "XEN_HVM_MEMMAP_TYPE_RESERVED");
    constant!(s, hvm::XEN_HVM_MEMMAP_TYPE_ACPI as "XEN_HVM_MEMMAP_TYPE_ACPI");
    constant!(s, hvm::HVMOP_SET_PARAM as "HVMOP_set_param");
    constant!(s, hvm::HVMOP_GET_PARAM as "HVMOP_get_param");
    constant!(s, hvm::HVM_PARAM_CALLBACK_IRQ as "HVM_PARAM_CALLBACK_IRQ");
    constant!(s, hvm::HVM_PARAM_STORE_PFN as "HVM_PARAM_STORE_PFN");
    constant!(s, hvm::HVM_PARAM_STORE_EVTCHN as "HVM_PARAM_STORE_EVTCHN");
    constant!(s, hvm::HVM_PARAM_CONSOLE_PFN as "HVM_PARAM_CONSOLE_PFN");
    constant!(s, hvm::HVM_PARAM_CONSOLE_EVTCHN as "HVM_PARAM_CONSOLE_EVTCHN");
    constant!(s, hvm::HVM_PARAM_CALLBACK_IRQ_TYPE_MASK as "HVM_PARAM_CALLBACK_IRQ_TYPE_MASK");
    constant!(s, hvm::HVM_PARAM_CALLBACK_TYPE_VECTOR as "HVM_PARAM_CALLBACK_TYPE_VECTOR");
    constant!(s, hvm::XENMEM_ADD_TO_PHYSMAP as "XENMEM_add_to_physmap");
    constant!(s, hvm::XENMEM_CURRENT_RESERVATION as "XENMEM_current_reservation");
    constant!(s, hvm::XENMAPSPACE_SHARED_INFO as "XENMAPSPACE_shared_info");
    constant!(s, hvm::XENMAPSPACE_GRANT_TABLE as "XENMAPSPACE_grant_table");
    constant!(s, hvm::XEN_CPUID_FIRST_LEAF as "XEN_CPUID_FIRST_LEAF");
    constant!(s, hvm::XEN_CPUID_SIGNATURE_EBX as "XEN_CPUID_SIGNATURE_EBX");
    constant!(s, hvm::XEN_CPUID_SIGNATURE_ECX as "XEN_CPUID_SIGNATURE_ECX");
    constant!(s, hvm::XEN_CPUID_SIGNATURE_EDX as "XEN_CPUID_SIGNATURE_EDX");
    // io/blkif.h
    layout!(s, blkif::BlkifRequestSegment as "blkif_request_segment" {
        gref as "gref",
        first_sect as "first_sect",
        last_sect as "last_sect",
    });
    layout!(s, blkif::BlkifRequest as "blkif_request" {
        operation as "operation",
        nr_segments as "nr_segments",
        handle as "handle",
        id as "id",
        sector_number as "sector_number",
        seg as "seg",
    });
    layout!(s, blkif::BlkifRequestDiscard as "blkif_request_discard" {
        operation as "operation",
        flag as "flag",
        handle as "handle",
        id as "id",
        sector_number as "sector_number",
        nr_sectors as "nr_sectors",
    });
    layout!(s, blkif::BlkifRequestIndirect as "blkif_request_indirect" {
        operation as "operation",
        indirect_op as "indirect_op",
        nr_segments as "nr_segments",
        id as "id",
        sector_number as "sector_number",
        handle as "handle",
        indirect_grefs as "indirect_grefs",
    });
    layout!(s, blkif::BlkifResponse as "blkif_response" {
        id as "id",
        operation as "operation",
        status as "status",
    });
    constant!(s, blkif::BLKIF_OP_READ as "BLKIF_OP_READ");
    constant!(s, blkif::BLKIF_OP_WRITE as "BLKIF_OP_WRITE");
    constant!(s, blkif::BLKIF_OP_WRITE_BARRIER as "BLKIF_OP_WRITE_BARRIER");
    constant!(s, blkif::BLKIF_OP_FLUSH_DISKCACHE as "BLKIF_OP_FLUSH_DISKCACHE");
    constant!(s, blkif::BLKIF_OP_RESERVED_1 as "BLKIF_OP_RESERVED_1");
    constant!(s, blkif::BLKIF_OP_DISCARD as "BLKIF_OP_DISCARD");
    constant!(s, blkif::BLKIF_OP_INDIRECT as "BLKIF_OP_INDIRECT");
    constant!(s, blkif::BLKIF_MAX_SEGMENTS_PER_REQUEST as "BLKIF_MAX_SEGMENTS_PER_REQUEST");
    constant!(s, blkif::BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST as "BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST");
    constant!(s, blkif::BLKIF_DISCARD_SECURE as "BLKIF_DISCARD_SECURE");
    // Negative statuses: layout.c prints them as `unsigned long long`, i.e. sign-extended to
    // 64 bits; compare the same bits.
    s.constant(
        "blkif::BLKIF_RSP_EOPNOTSUPP",
        "BLKIF_RSP_EOPNOTSUPP",
        blkif::BLKIF_RSP_EOPNOTSUPP as i64 as u64 as i128,
    );
    s.constant(
        "blkif::BLKIF_RSP_ERROR",
        "BLKIF_RSP_ERROR",
        blkif::BLKIF_RSP_ERROR as i64 as u64 as i128,
    );
    constant!(s, blkif::BLKIF_RSP_OKAY as "BLKIF_RSP_OKAY");
    constant!(s, blkif::VDISK_CDROM as "VDISK_CDROM");
    constant!(s, blkif::VDISK_REMOVABLE as "VDISK_REMOVABLE");
    constant!(s, blkif::VDISK_READONLY as "VDISK_READONLY");
    constant!(s, blkif::BLKIF_SRING_ENTRY_BYTES as "sizeof(union_blkif_sring_entry)");
    constant!(s, blkif::BLKIF_RING_SIZE_ONE_PAGE as "__CONST_RING_SIZE(blkif,4096)");
    layout!(s, netif::NetifTxRequest as "netif_tx_request" {
        gref as "gref",
        offset as "offset",
        flags as "flags",
        id as "id",
        size as "size",
    });
    layout!(s, netif::NetifExtraInfo as "netif_extra_info" {
        ty as "type",
        flags as "flags",
        u as "u",
    });
    layout!(s, netif::NetifTxResponse as "netif_tx_response" {
        id as "id",
        status as "status",
    });
    layout!(s, netif::NetifRxRequest as "netif_rx_request" {
        id as "id",
        pad as "pad",
        gref as "gref",
    });
    layout!(s, netif::NetifRxResponse as "netif_rx_response" {
        id as "id",
        offset as "offset",
        flags as "flags",
        status as "status",
    });
    constant!(s, netif::NETTXF_CSUM_BLANK as "NETTXF_csum_blank");
    constant!(s, netif::NETTXF_DATA_VALIDATED as "NETTXF_data_validated");
    constant!(s, netif::NETTXF_MORE_DATA as "NETTXF_more_data");
    constant!(s, netif::NETTXF_EXTRA_INFO as "NETTXF_extra_info");
    constant!(s, netif::NETRXF_DATA_VALIDATED as "NETRXF_data_validated");
    constant!(s, netif::NETRXF_CSUM_BLANK as "NETRXF_csum_blank");
    constant!(s, netif::NETRXF_MORE_DATA as "NETRXF_more_data");
    constant!(s, netif::NETRXF_EXTRA_INFO as "NETRXF_extra_info");
    constant!(s, netif::NETRXF_GSO_PREFIX as "NETRXF_gso_prefix");
    s.constant(
        "netif::NETIF_RSP_DROPPED",
        "-NETIF_RSP_DROPPED",
        -i128::from(netif::NETIF_RSP_DROPPED),
    );
    s.constant(
        "netif::NETIF_RSP_ERROR",
        "-NETIF_RSP_ERROR",
        -i128::from(netif::NETIF_RSP_ERROR),
    );
    constant!(s, netif::NETIF_RSP_OKAY as "NETIF_RSP_OKAY");
    constant!(s, netif::NETIF_RSP_NULL as "NETIF_RSP_NULL");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_NONE as "XEN_NETIF_EXTRA_TYPE_NONE");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_GSO as "XEN_NETIF_EXTRA_TYPE_GSO");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_MCAST_ADD as "XEN_NETIF_EXTRA_TYPE_MCAST_ADD");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_MCAST_DEL as "XEN_NETIF_EXTRA_TYPE_MCAST_DEL");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_HASH as "XEN_NETIF_EXTRA_TYPE_HASH");
    constant!(s, netif::XEN_NETIF_EXTRA_TYPE_MAX as "XEN_NETIF_EXTRA_TYPE_MAX");
    constant!(s, netif::XEN_NETIF_EXTRA_FLAG_MORE as "XEN_NETIF_EXTRA_FLAG_MORE");
    constant!(s, netif::XEN_NETIF_NR_SLOTS_MIN as "XEN_NETIF_NR_SLOTS_MIN");
    constant!(s, netif::XEN_NETIF_MAX_TX_SIZE as "XEN_NETIF_MAX_TX_SIZE");

    s
}

/// The `#include <xen/...>` headers of layout.c.
fn included_headers(layout_c: &str) -> Vec<String> {
    layout_c
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#include <xen/"))
        .filter_map(|l| l.strip_suffix('>'))
        .map(str::to_owned)
        .collect()
}

/// Compiles and runs layout.c; returns its standard output.
fn run_layout_c() -> String {
    let layout_c = std::fs::read_to_string(LAYOUT_C).expect("read tests/layout.c");
    let mut headers = included_headers(&layout_c);
    assert!(!headers.is_empty(), "layout.c includes no <xen/...> header");
    headers.sort();
    headers.dedup();
    let missing: Vec<_> = headers
        .iter()
        .filter(|h| !Path::new(XEN_INCLUDE_DIR).join(h).is_file())
        .collect();
    assert!(
        Path::new(XEN_INCLUDE_DIR).is_dir() && missing.is_empty(),
        "{HEADERS_MISSING}\n(missing under {XEN_INCLUDE_DIR}: {missing:?})"
    );

    // One directory per test process, so that concurrent runs do not race on the binary.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("xen-abi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temporary directory");
    let exe = dir.join("layout");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=gnu11", "-O0", "-Wall", "-Wextra", "-Werror"])
        .arg(format!(
            "-D__XEN_INTERFACE_VERSION__={XEN_INTERFACE_VERSION}"
        ))
        .arg("-o")
        .arg(&exe)
        .arg(LAYOUT_C)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
    assert!(
        output.status.success(),
        "compiling {LAYOUT_C} against {XEN_INCLUDE_DIR} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let output = Command::new(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}",
        exe.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
    String::from_utf8(output.stdout).expect("layout.c prints UTF-8")
}

/// Parses the C program's output into its facts (in order); syntax problems go to `problems`.
fn parse_c_facts(out: &str, problems: &mut Vec<String>) -> Vec<(String, i128)> {
    let mut facts = Vec::new();
    let mut end = None;
    for (n, line) in out.lines().enumerate() {
        let n = n + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        if end.is_some() {
            problems.push(format!("C line {n}: {line:?} after the `end` line"));
            continue;
        }
        let arity = match words.first() {
            Some(&"size" | &"align" | &"const") => 3,
            Some(&"offset" | &"fieldsize") => 4,
            Some(&"end") => 2,
            _ => 0,
        };
        let value = words.last().and_then(|v| v.parse::<i128>().ok());
        match value {
            Some(value) if words.len() == arity => {
                if words[0] == "end" {
                    end = Some(value);
                } else {
                    facts.push((words[..arity - 1].join(" "), value));
                }
            }
            _ => problems.push(format!("C line {n}: cannot parse {line:?}")),
        }
    }
    match end {
        None => problems.push("the C output has no `end <count>` line: truncated?".to_owned()),
        Some(end) if end != facts.len() as i128 => problems.push(format!(
            "the C program says it printed {end} facts but {} were read",
            facts.len()
        )),
        Some(_) => {}
    }
    facts
}

/// Constants (incl. `bitflags` flags) and ABI types (`#[repr(C)]` types and type aliases)
/// declared in `src/*.rs`, as paths relative to the crate root (`consts::schedop::BLOCK`,
/// `flags::SifFlags::PRIVILEGED`, `xen::StartInfo`). Plain Rust helper types (no `repr(C)`)
/// mirror nothing and are not listed. A line-based scan of rustfmt-formatted code: enough to
/// notice an item nobody checks.
fn scan_sources() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut consts = BTreeSet::new();
    let mut types = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(SRC_DIR)
        .expect("read src/")
        .map(|e| e.expect("read src/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let src = std::fs::read_to_string(&file).expect("read a source file");
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let module = if stem == "lib" { None } else { Some(stem) };
        // (name, is a bitflags struct, brace depth before its opening line)
        let mut scopes: Vec<(String, bool, i32)> = Vec::new();
        let mut depth = 0i32;
        // Whether the attributes just above the current line include `#[repr(C...)]`.
        let mut repr_c = false;
        for line in src.lines() {
            let code = line.split("//").next().unwrap_or("");
            let t = code.trim();
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            let path = |scopes: &[(String, bool, i32)], name: &str| -> String {
                module
                    .into_iter()
                    .chain(scopes.iter().map(|s| s.0.as_str()))
                    .chain([name])
                    .collect::<Vec<_>>()
                    .join("::")
            };
            let in_bitflags = scopes.last().is_some_and(|s| s.1);
            let konst = t
                .strip_prefix("pub const ")
                .or_else(|| t.strip_prefix("const ").filter(|_| in_bitflags));
            if let Some(rest) = konst {
                let name = ident(rest);
                // `pub const fn` is a constructor, not a constant.
                if !name.is_empty() && name != "_" && name != "fn" {
                    consts.insert(path(&scopes, &name));
                }
            }
            let mut opened = None;
            if let Some(rest) = t
                .strip_prefix("pub mod ")
                .or_else(|| t.strip_prefix("mod "))
            {
                opened = Some((ident(rest), false));
            } else if let Some(rest) = t.strip_prefix("impl ") {
                let rest = rest.rsplit(" for ").next().unwrap_or(rest);
                opened = Some((ident(rest), false));
            } else if let Some(rest) = ["pub struct ", "pub enum ", "pub union ", "pub type "]
                .iter()
                .find_map(|p| t.strip_prefix(p))
            {
                let name = ident(rest);
                if rest[name.len()..].trim_start().starts_with(':') {
                    opened = Some((name, true)); // bitflags! { pub struct Name: u32 { ... } }
                } else if repr_c || t.starts_with("pub type ") {
                    types.insert(path(&scopes, &name));
                }
            }
            if t.starts_with("#[repr(C") {
                repr_c = true;
            } else if !t.starts_with("#[") && !line.trim_start().starts_with("///") {
                repr_c = false;
            }
            let before = depth;
            depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            if let Some((name, is_bitflags)) = opened {
                if depth > before {
                    scopes.push((name, is_bitflags, before));
                }
            }
            while scopes.last().is_some_and(|s| depth <= s.2) {
                scopes.pop();
            }
        }
    }
    (consts, types)
}

#[test]
fn xen_abi_matches_the_xen_public_headers() {
    let mut problems = Vec::new();

    let out = run_layout_c();
    let c_facts = parse_c_facts(&out, &mut problems);
    let rust = rust_side();

    let mut c_map = BTreeMap::new();
    for (key, value) in &c_facts {
        if c_map.insert(key.as_str(), *value).is_some() {
            problems.push(format!("C prints `{key}` twice"));
        }
    }
    let mut rust_map = BTreeMap::new();
    for fact in &rust.facts {
        if rust_map.insert(fact.key.as_str(), fact).is_some() {
            problems.push(format!("the Rust side lists `{}` twice", fact.key));
        }
    }

    let mut compared = 0usize;
    for (key, c_value) in &c_facts {
        match rust_map.get(key.as_str()) {
            None => problems.push(format!(
                "`{key}` (= {c_value}) is printed by layout.c but has no Rust counterpart in \
                 tests/layout.rs"
            )),
            Some(fact) => {
                compared += 1;
                if fact.value != *c_value {
                    problems.push(format!(
                        "MISMATCH `{key}`: C headers say {c_value} ({c_value:#x}), Rust {} \
                         ({:#x}) from `{}`",
                        fact.value, fact.value, fact.rust
                    ));
                }
            }
        }
    }
    for fact in &rust.facts {
        if !c_map.contains_key(fact.key.as_str()) {
            problems.push(format!(
                "`{}` (Rust `{}` = {}) is not printed by layout.c",
                fact.key, fact.rust, fact.value
            ));
        }
    }
    if compared != c_facts.len() || compared != rust.facts.len() {
        problems.push(format!(
            "compared {compared} facts, but the C program printed {} and the Rust side has {}",
            c_facts.len(),
            rust.facts.len()
        ));
    }

    // Everything declared in src/ is checked above or is knowingly Rust-only.
    let (src_consts, src_types) = scan_sources();
    let checked: BTreeSet<String> = rust.consts.iter().cloned().collect();
    let rust_only: BTreeSet<String> = RUST_ONLY.iter().map(|(n, _)| n.to_string()).collect();
    for name in &src_consts {
        if !checked.contains(name) && !rust_only.contains(name) {
            problems.push(format!(
                "constant `{name}` in src/ is not checked: add it to layout.c and \
                 tests/layout.rs (or to RUST_ONLY, with the reason)"
            ));
        }
    }
    for name in checked.union(&rust_only) {
        if !src_consts.contains(name) {
            problems.push(format!(
                "`{name}` is checked or listed as Rust-only but src/ does not declare it"
            ));
        }
    }
    for name in checked.intersection(&rust_only) {
        problems.push(format!("`{name}` is both checked and listed as Rust-only"));
    }
    let checked_types: BTreeSet<String> = rust.types.iter().cloned().collect();
    for name in src_types.symmetric_difference(&checked_types) {
        if src_types.contains(name) {
            problems.push(format!("type `{name}` in src/ has no layout check"));
        } else {
            problems.push(format!("checked type `{name}` is not declared in src/"));
        }
    }

    if !problems.is_empty() {
        let mut msg = format!(
            "xen-abi does not match the Xen public headers in {XEN_INCLUDE_DIR} \
             (__XEN_INTERFACE_VERSION__={XEN_INTERFACE_VERSION}): {} problem(s)\n",
            problems.len()
        );
        for p in &problems {
            writeln!(msg, "  - {p}").unwrap();
        }
        panic!("{msg}");
    }
    println!(
        "xen-abi layout: {compared} facts checked against {XEN_INCLUDE_DIR} \
         ({} types, {} constants; {} Rust-only items: {})",
        checked_types.len(),
        checked.len(),
        RUST_ONLY.len(),
        RUST_ONLY
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    );
}
