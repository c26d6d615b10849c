/*
 * Layout facts of the Xen public ABI mirrored by the xen-abi crate, read from the real C
 * headers (Debian's libxen-dev, /usr/include/xen). tests/layout.rs compiles this with
 *
 *     cc -std=gnu11 -Wall -Wextra -Werror -D__XEN_INTERFACE_VERSION__=0x00040e00
 *
 * runs it and compares every line with the Rust side. One fact per line:
 *
 *     size <type> <bytes>                 sizeof
 *     align <type> <bytes>                _Alignof
 *     offset <type> <field> <bytes>       offsetof
 *     fieldsize <type> <field> <bytes>    sizeof of the field
 *     const <name> <value>                a constant, as an unsigned decimal
 *
 * and a last line `end <number of facts printed>`, so that a truncated output is noticed.
 * Every fact printed here must have a Rust counterpart in tests/layout.rs and vice versa:
 * add a line on both sides when xen-abi mirrors something new.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef __XEN_INTERFACE_VERSION__
#error "compile with -D__XEN_INTERFACE_VERSION__=0x00040e00 (Xen 4.17)"
#endif

#if !defined(__x86_64__)
#error "xen-abi mirrors the x86_64 PV ABI: build and run this on an x86_64 host"
#endif

#include <xen/xen.h>
#include <xen/callback.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/elfnote.h>
#include <xen/memory.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/blkif.h>
#include <xen/io/console.h>
#include <xen/io/ring.h>
#include <xen/io/xenbus.h>
#include <xen/io/xs_wire.h>
#include <xen/io/netif.h>

#if __XEN_INTERFACE_VERSION__ > __XEN_LATEST_INTERFACE_VERSION__
#error "__XEN_INTERFACE_VERSION__ is newer than these headers"
#endif

/* Guest-visible error numbers: the `enum xen_errno` (XEN_Exxx) of errno.h's default include. */
#include <xen/errno.h>

/*
 * EINTR is in errno.h only under `#ifdef __XEN__` ("Internal only, should never be exposed to
 * the guest"); xen-abi defines it anyway (xen-hal names it when printing an error). Read its
 * value from the same header: errno.h has no include guard when the includer provides
 * XEN_ERRNO(), so include it again, as hypervisor code would see it, into a separate enum.
 */
#define __XEN__
#define XEN_ERRNO(name, value) XEN_INTERNAL_##name = value,
enum xen_errno_with_internal {
#include <xen/errno.h>
};
#undef __XEN__

static unsigned long nr_facts;

static void fact(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fact(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vprintf(fmt, ap) < 0)
        exit(1);
    va_end(ap);
    putchar('\n');
    nr_facts++;
}

/* `size` and `align` of a type, under the name `name`. */
#define TYPE(name, T)                                       \
    do {                                                    \
        fact("size %s %zu", name, sizeof(T));               \
        fact("align %s %zu", name, (size_t)_Alignof(T));    \
    } while (0)

/* `offset` and `fieldsize` of field `f` (a member designator, may be nested) of `T`. */
#define FIELD(name, T, f)                                           \
    do {                                                            \
        fact("offset %s %s %zu", name, #f, offsetof(T, f));         \
        fact("fieldsize %s %s %zu", name, #f, sizeof(((T *)0)->f)); \
    } while (0)

/* A constant under its C name (the name is stringified before macro expansion). */
#define CONST(c) fact("const %s %llu", #c, (unsigned long long)(c))

/* A derived value that has no macro of its own, under a descriptive name. */
#define VALUE(name, v) fact("const %s %llu", name, (unsigned long long)(v))

/* trap_info.flags as the TI_SET_* macros of arch-x86/xen.h build them. */
static unsigned int ti_set_dpl(unsigned int dpl)
{
    struct trap_info ti = { 0 };

    TI_SET_DPL(&ti, dpl);
    return ti.flags;
}

static unsigned int ti_set_if(int enable)
{
    struct trap_info ti = { 0 };

    TI_SET_IF(&ti, enable);
    return ti.flags;
}

typedef __typeof__(((struct start_info *)0)->console.domU) start_info_console_domU;

int main(void)
{
    /* xen.h: struct start_info */
#define S struct start_info
    TYPE("start_info", S);
    FIELD("start_info", S, magic);
    FIELD("start_info", S, nr_pages);
    FIELD("start_info", S, shared_info);
    FIELD("start_info", S, flags);
    FIELD("start_info", S, store_mfn);
    FIELD("start_info", S, store_evtchn);
    FIELD("start_info", S, console);
    FIELD("start_info", S, console.domU.mfn);
    FIELD("start_info", S, console.domU.evtchn);
    FIELD("start_info", S, pt_base);
    FIELD("start_info", S, nr_pt_frames);
    FIELD("start_info", S, mfn_list);
    FIELD("start_info", S, mod_start);
    FIELD("start_info", S, mod_len);
    FIELD("start_info", S, cmd_line);
    FIELD("start_info", S, first_p2m_pfn);
    FIELD("start_info", S, nr_p2m_frames);
#undef S

    /* The domU member of the start_info console union (Rust: StartInfoConsole). */
#define S start_info_console_domU
    TYPE("start_info.console.domU", S);
    FIELD("start_info.console.domU", S, mfn);
    FIELD("start_info.console.domU", S, evtchn);
#undef S

    /* xen.h: struct vcpu_time_info */
#define S struct vcpu_time_info
    TYPE("vcpu_time_info", S);
    FIELD("vcpu_time_info", S, version);
    FIELD("vcpu_time_info", S, pad0);
    FIELD("vcpu_time_info", S, tsc_timestamp);
    FIELD("vcpu_time_info", S, system_time);
    FIELD("vcpu_time_info", S, tsc_to_system_mul);
    FIELD("vcpu_time_info", S, tsc_shift);
    FIELD("vcpu_time_info", S, flags);
    FIELD("vcpu_time_info", S, pad1);
#undef S

    /* arch-x86/xen-x86_64.h: struct arch_vcpu_info */
#define S struct arch_vcpu_info
    TYPE("arch_vcpu_info", S);
    FIELD("arch_vcpu_info", S, cr2);
    FIELD("arch_vcpu_info", S, pad);
#undef S

    /* xen.h: struct vcpu_info */
#define S struct vcpu_info
    TYPE("vcpu_info", S);
    FIELD("vcpu_info", S, evtchn_upcall_pending);
    FIELD("vcpu_info", S, evtchn_upcall_mask);
    /*
     * Rust's VcpuInfo spells out as `pad0` the padding that C leaves implicit between
     * evtchn_upcall_mask and evtchn_pending_sel: check that it fills exactly that gap.
     */
    fact("offset vcpu_info (padding-before-evtchn_pending_sel) %zu",
         offsetof(S, evtchn_upcall_mask) + sizeof(((S *)0)->evtchn_upcall_mask));
    fact("fieldsize vcpu_info (padding-before-evtchn_pending_sel) %zu",
         offsetof(S, evtchn_pending_sel) -
             (offsetof(S, evtchn_upcall_mask) + sizeof(((S *)0)->evtchn_upcall_mask)));
    FIELD("vcpu_info", S, evtchn_pending_sel);
    FIELD("vcpu_info", S, arch);
    FIELD("vcpu_info", S, time);
#undef S

    /* arch-x86/xen.h: struct arch_shared_info */
#define S struct arch_shared_info
    TYPE("arch_shared_info", S);
    FIELD("arch_shared_info", S, max_pfn);
    FIELD("arch_shared_info", S, pfn_to_mfn_frame_list_list);
    FIELD("arch_shared_info", S, nmi_reason);
    FIELD("arch_shared_info", S, p2m_cr3);
    FIELD("arch_shared_info", S, p2m_vaddr);
    FIELD("arch_shared_info", S, p2m_generation);
#undef S

    /* xen.h: struct shared_info */
#define S struct shared_info
    TYPE("shared_info", S);
    FIELD("shared_info", S, vcpu_info);
    FIELD("shared_info", S, evtchn_pending);
    FIELD("shared_info", S, evtchn_mask);
    FIELD("shared_info", S, wc_version);
    FIELD("shared_info", S, wc_sec);
    FIELD("shared_info", S, wc_nsec);
    FIELD("shared_info", S, wc_sec_hi);
    FIELD("shared_info", S, arch);
#undef S

    /* io/console.h: struct xencons_interface */
#define S struct xencons_interface
    TYPE("xencons_interface", S);
    FIELD("xencons_interface", S, in);
    FIELD("xencons_interface", S, out);
    FIELD("xencons_interface", S, in_cons);
    FIELD("xencons_interface", S, in_prod);
    FIELD("xencons_interface", S, out_cons);
    FIELD("xencons_interface", S, out_prod);
    /* The ring sizes have no macro: they are the array sizes. */
    VALUE("sizeof(xencons_interface.in)", sizeof(((S *)0)->in));
    VALUE("sizeof(xencons_interface.out)", sizeof(((S *)0)->out));
#undef S

    /* io/xs_wire.h: struct xsd_sockmsg, struct xenstore_domain_interface, constants */
#define S struct xsd_sockmsg
    TYPE("xsd_sockmsg", S);
    FIELD("xsd_sockmsg", S, type);
    FIELD("xsd_sockmsg", S, req_id);
    FIELD("xsd_sockmsg", S, tx_id);
    FIELD("xsd_sockmsg", S, len);
#undef S
#define S struct xenstore_domain_interface
    TYPE("xenstore_domain_interface", S);
    FIELD("xenstore_domain_interface", S, req);
    FIELD("xenstore_domain_interface", S, rsp);
    FIELD("xenstore_domain_interface", S, req_cons);
    FIELD("xenstore_domain_interface", S, req_prod);
    FIELD("xenstore_domain_interface", S, rsp_cons);
    FIELD("xenstore_domain_interface", S, rsp_prod);
    FIELD("xenstore_domain_interface", S, server_features);
    FIELD("xenstore_domain_interface", S, connection);
    FIELD("xenstore_domain_interface", S, error);
#undef S
    CONST(XS_CONTROL);
    CONST(XS_DEBUG);
    CONST(XS_DIRECTORY);
    CONST(XS_READ);
    CONST(XS_GET_PERMS);
    CONST(XS_WATCH);
    CONST(XS_UNWATCH);
    CONST(XS_TRANSACTION_START);
    CONST(XS_TRANSACTION_END);
    CONST(XS_INTRODUCE);
    CONST(XS_RELEASE);
    CONST(XS_GET_DOMAIN_PATH);
    CONST(XS_WRITE);
    CONST(XS_MKDIR);
    CONST(XS_RM);
    CONST(XS_SET_PERMS);
    CONST(XS_WATCH_EVENT);
    CONST(XS_ERROR);
    CONST(XS_IS_DOMAIN_INTRODUCED);
    CONST(XS_RESUME);
    CONST(XS_SET_TARGET);
    CONST(XS_RESET_WATCHES);
    CONST(XS_DIRECTORY_PART);
    CONST(XS_TYPE_COUNT);
    CONST(XS_INVALID);
    CONST(XS_WATCH_PATH);
    CONST(XS_WATCH_TOKEN);
    CONST(XENSTORE_RING_SIZE);
    CONST(XENSTORE_PAYLOAD_MAX);
    CONST(XENSTORE_ABS_PATH_MAX);
    CONST(XENSTORE_REL_PATH_MAX);
    CONST(XENSTORE_SERVER_FEATURE_RECONNECTION);
    CONST(XENSTORE_SERVER_FEATURE_ERROR);
    CONST(XENSTORE_CONNECTED);
    CONST(XENSTORE_RECONNECT);
    CONST(XENSTORE_ERROR_NONE);
    CONST(XENSTORE_ERROR_COMM);
    CONST(XENSTORE_ERROR_RINGIDX);
    CONST(XENSTORE_ERROR_PROTO);

    /* io/xenbus.h: enum xenbus_state */
    CONST(XenbusStateUnknown);
    CONST(XenbusStateInitialising);
    CONST(XenbusStateInitWait);
    CONST(XenbusStateInitialised);
    CONST(XenbusStateConnected);
    CONST(XenbusStateClosing);
    CONST(XenbusStateClosed);
    CONST(XenbusStateReconfiguring);
    CONST(XenbusStateReconfigured);

    /* arch-x86/xen.h: struct trap_info */
#define S struct trap_info
    TYPE("trap_info", S);
    FIELD("trap_info", S, vector);
    FIELD("trap_info", S, flags);
    FIELD("trap_info", S, cs);
    FIELD("trap_info", S, address);
#undef S

    /* xen.h: struct mmu_update */
#define S struct mmu_update
    TYPE("mmu_update", S);
    FIELD("mmu_update", S, ptr);
    FIELD("mmu_update", S, val);
#undef S

    /* xen.h: struct mmuext_op */
#define S struct mmuext_op
    TYPE("mmuext_op", S);
    FIELD("mmuext_op", S, cmd);
    FIELD("mmuext_op", S, arg1);
    FIELD("mmuext_op", S, arg2);
#undef S

    /* sched.h: struct sched_shutdown */
#define S struct sched_shutdown
    TYPE("sched_shutdown", S);
    FIELD("sched_shutdown", S, reason);
#undef S

    /* event_channel.h: struct evtchn_send, struct evtchn_bind_virq */
#define S struct evtchn_send
    TYPE("evtchn_send", S);
    FIELD("evtchn_send", S, port);
#undef S
#define S struct evtchn_bind_virq
    TYPE("evtchn_bind_virq", S);
    FIELD("evtchn_bind_virq", S, virq);
    FIELD("evtchn_bind_virq", S, vcpu);
    FIELD("evtchn_bind_virq", S, port);
#undef S
#define S struct evtchn_alloc_unbound
    TYPE("evtchn_alloc_unbound", S);
    FIELD("evtchn_alloc_unbound", S, dom);
    FIELD("evtchn_alloc_unbound", S, remote_dom);
    FIELD("evtchn_alloc_unbound", S, port);
#undef S
#define S struct evtchn_bind_interdomain
    TYPE("evtchn_bind_interdomain", S);
    FIELD("evtchn_bind_interdomain", S, remote_dom);
    FIELD("evtchn_bind_interdomain", S, remote_port);
    FIELD("evtchn_bind_interdomain", S, local_port);
#undef S
#define S struct evtchn_bind_ipi
    TYPE("evtchn_bind_ipi", S);
    FIELD("evtchn_bind_ipi", S, vcpu);
    FIELD("evtchn_bind_ipi", S, port);
#undef S
#define S struct evtchn_close
    TYPE("evtchn_close", S);
    FIELD("evtchn_close", S, port);
#undef S
#define S struct evtchn_bind_vcpu
    TYPE("evtchn_bind_vcpu", S);
    FIELD("evtchn_bind_vcpu", S, port);
    FIELD("evtchn_bind_vcpu", S, vcpu);
#undef S
#define S struct evtchn_unmask
    TYPE("evtchn_unmask", S);
    FIELD("evtchn_unmask", S, port);
#undef S
#define S struct evtchn_reset
    TYPE("evtchn_reset", S);
    FIELD("evtchn_reset", S, dom);
#undef S
#define S struct evtchn_init_control
    TYPE("evtchn_init_control", S);
    FIELD("evtchn_init_control", S, control_gfn);
    FIELD("evtchn_init_control", S, offset);
    FIELD("evtchn_init_control", S, vcpu);
    FIELD("evtchn_init_control", S, link_bits);
    FIELD("evtchn_init_control", S, _pad);
#undef S
#define S struct evtchn_expand_array
    TYPE("evtchn_expand_array", S);
    FIELD("evtchn_expand_array", S, array_gfn);
#undef S
#define S struct grant_entry_v1
    TYPE("grant_entry_v1", S);
    FIELD("grant_entry_v1", S, flags);
    FIELD("grant_entry_v1", S, domid);
    FIELD("grant_entry_v1", S, frame);
#undef S
#define S struct gnttab_setup_table
    TYPE("gnttab_setup_table", S);
    FIELD("gnttab_setup_table", S, dom);
    FIELD("gnttab_setup_table", S, nr_frames);
    FIELD("gnttab_setup_table", S, status);
    FIELD("gnttab_setup_table", S, frame_list);
#undef S
#define S struct gnttab_query_size
    TYPE("gnttab_query_size", S);
    FIELD("gnttab_query_size", S, dom);
    FIELD("gnttab_query_size", S, nr_frames);
    FIELD("gnttab_query_size", S, max_nr_frames);
    FIELD("gnttab_query_size", S, status);
#undef S
#define S struct evtchn_set_priority
    TYPE("evtchn_set_priority", S);
    FIELD("evtchn_set_priority", S, port);
    FIELD("evtchn_set_priority", S, priority);
#undef S
#define S struct evtchn_fifo_control_block
    TYPE("evtchn_fifo_control_block", S);
    FIELD("evtchn_fifo_control_block", S, ready);
    FIELD("evtchn_fifo_control_block", S, _rsvd);
    FIELD("evtchn_fifo_control_block", S, head);
#undef S
    /* The FIFO event word. */
    TYPE("event_word_t", event_word_t);

    /* callback.h: struct callback_register */
#define S struct callback_register
    TYPE("callback_register", S);
    FIELD("callback_register", S, type);
    FIELD("callback_register", S, flags);
    FIELD("callback_register", S, address);
#undef S

    /* arch-x86/xen-x86_64.h: struct iret_context */
#define S struct iret_context
    TYPE("iret_context", S);
    FIELD("iret_context", S, rax);
    FIELD("iret_context", S, r11);
    FIELD("iret_context", S, rcx);
    FIELD("iret_context", S, flags);
    FIELD("iret_context", S, rip);
    FIELD("iret_context", S, cs);
    FIELD("iret_context", S, rflags);
    FIELD("iret_context", S, rsp);
    FIELD("iret_context", S, ss);
#undef S

    /* version.h: xen_extraversion_t */
    TYPE("xen_extraversion_t", xen_extraversion_t);

    /* xen.h: hypercall numbers */
    CONST(__HYPERVISOR_set_trap_table);
    CONST(__HYPERVISOR_mmu_update);
    CONST(__HYPERVISOR_set_callbacks);
    CONST(__HYPERVISOR_memory_op);
    CONST(__HYPERVISOR_update_va_mapping);
    CONST(__HYPERVISOR_set_timer_op);
    CONST(__HYPERVISOR_xen_version);
    CONST(__HYPERVISOR_console_io);
    CONST(__HYPERVISOR_grant_table_op);
    CONST(__HYPERVISOR_vm_assist);
    CONST(__HYPERVISOR_iret);
    CONST(__HYPERVISOR_vcpu_op);
    CONST(__HYPERVISOR_mmuext_op);
    CONST(__HYPERVISOR_sched_op);
    CONST(__HYPERVISOR_callback_op);
    CONST(__HYPERVISOR_event_channel_op);
    CONST(__HYPERVISOR_hvm_op);

    /* sched.h */
    CONST(SCHEDOP_yield);
    CONST(SCHEDOP_block);
    CONST(SCHEDOP_shutdown);
    CONST(SCHEDOP_poll);
    CONST(SHUTDOWN_poweroff);
    CONST(SHUTDOWN_reboot);
    CONST(SHUTDOWN_suspend);
    CONST(SHUTDOWN_crash);

    /* event_channel.h */
    CONST(EVTCHNOP_bind_interdomain);
    CONST(EVTCHNOP_bind_virq);
    CONST(EVTCHNOP_close);
    CONST(EVTCHNOP_send);
    CONST(EVTCHNOP_status);
    CONST(EVTCHNOP_alloc_unbound);
    CONST(EVTCHNOP_bind_ipi);
    CONST(EVTCHNOP_unmask);
    CONST(EVTCHNOP_init_control);
    CONST(EVTCHNOP_expand_array);
    CONST(EVTCHNOP_set_priority);
    CONST(EVTCHNOP_bind_pirq);
    CONST(EVTCHNOP_bind_vcpu);
    CONST(EVTCHNOP_reset);
    CONST(EVTCHN_2L_NR_CHANNELS);
    CONST(EVTCHN_FIFO_PRIORITY_MAX);
    CONST(EVTCHN_FIFO_PRIORITY_DEFAULT);
    CONST(EVTCHN_FIFO_PRIORITY_MIN);
    CONST(EVTCHN_FIFO_MAX_QUEUES);
    CONST(EVTCHN_FIFO_PENDING);
    CONST(EVTCHN_FIFO_MASKED);
    CONST(EVTCHN_FIFO_LINKED);
    CONST(EVTCHN_FIFO_BUSY);
    CONST(EVTCHN_FIFO_LINK_BITS);
    CONST(EVTCHN_FIFO_LINK_MASK);
    CONST(EVTCHN_FIFO_NR_CHANNELS);

    /* xen.h */
    CONST(CONSOLEIO_write);
    CONST(CONSOLEIO_read);

    /* version.h */
    CONST(XENVER_version);
    CONST(XENVER_extraversion);
    CONST(XENVER_get_features);

    /* xen.h */
    CONST(UVMF_NONE);
    CONST(UVMF_TLB_FLUSH);
    CONST(UVMF_INVLPG);
    CONST(MMUEXT_PIN_L1_TABLE);
    CONST(MMUEXT_UNPIN_TABLE);
    CONST(MMUEXT_TLB_FLUSH_LOCAL);
    CONST(MMUEXT_INVLPG_LOCAL);
    CONST(MMU_NORMAL_PT_UPDATE);
    CONST(MMU_MACHPHYS_UPDATE);
    CONST(VIRQ_TIMER);
    CONST(VIRQ_DEBUG);
    CONST(VIRQ_CONSOLE);
    CONST(VIRQ_XENOPROF);
    CONST(VIRQ_XENPMU);
    CONST(NR_VIRQS);

    /* callback.h */
    CONST(CALLBACKTYPE_event);
    CONST(CALLBACKTYPE_failsafe);

    /* xen.h, arch-x86/xen.h, arch-x86/xen-x86_64.h */
    CONST(DOMID_SELF);
    CONST(FLAT_KERNEL_CS);
    CONST(FLAT_KERNEL_SS);
    CONST(MACH2PHYS_VIRT_START);
    CONST(MACH2PHYS_VIRT_END);
    CONST(HYPERVISOR_VIRT_START);
    CONST(XEN_LEGACY_MAX_VCPUS);
    CONST(MAX_GUEST_CMDLINE);

    /* io/ring.h: the page size of the shared-ring ABI. */
    CONST(XEN_PAGE_SHIFT);
    VALUE("1<<XEN_PAGE_SHIFT", 1ULL << XEN_PAGE_SHIFT);

    /* errno.h */
    CONST(GNTTABOP_setup_table);
    CONST(GNTTABOP_query_size);
    CONST(GNTTAB_NR_RESERVED_ENTRIES);
    VALUE("grant_entries_v1_per_frame", (1u << XEN_PAGE_SHIFT) / sizeof(struct grant_entry_v1));
    /* GNTST_* are negative: compared as their negation. */
    VALUE("-GNTST_okay", -(GNTST_okay));
    VALUE("-GNTST_general_error", -(GNTST_general_error));
    VALUE("-GNTST_bad_domain", -(GNTST_bad_domain));
    VALUE("-GNTST_bad_gntref", -(GNTST_bad_gntref));
    VALUE("-GNTST_permission_denied", -(GNTST_permission_denied));
    VALUE("-GNTST_eagain", -(GNTST_eagain));
    VALUE("-GNTST_no_space", -(GNTST_no_space));
    CONST(XEN_EPERM);
    CONST(XEN_ENOENT);
    CONST(XEN_ESRCH);
    CONST(XEN_INTERNAL_EINTR);
    CONST(XEN_EIO);
    CONST(XEN_ENXIO);
    CONST(XEN_E2BIG);
    CONST(XEN_ENOMEM);
    CONST(XEN_EACCES);
    CONST(XEN_EFAULT);
    CONST(XEN_EBUSY);
    CONST(XEN_EEXIST);
    CONST(XEN_ENODEV);
    CONST(XEN_EINVAL);
    CONST(XEN_ENOSPC);
    CONST(XEN_EAGAIN);
    CONST(XEN_ENOSYS);
    CONST(XEN_EOPNOTSUPP);

    /* xen.h: start_info.flags */
    CONST(SIF_PRIVILEGED);
    CONST(SIF_INITDOMAIN);
    CONST(SIF_MULTIBOOT_MOD);
    CONST(SIF_MOD_START_PFN);
    CONST(SIF_VIRT_P2M_4TOOLS);

    /* arch-x86/xen.h, arch-x86/xen-x86_64.h: vcpu_guest_context.flags, iret_context.flags */
    CONST(VGCF_i387_valid);
    CONST(VGCF_in_kernel);
    CONST(VGCF_failsafe_disables_events);
    CONST(VGCF_syscall_disables_events);
    CONST(VGCF_online);
    CONST(VGCF_in_syscall);

    /* grant_table.h: v1 grant entry flags */
    CONST(GTF_permit_access);
    CONST(GTF_accept_transfer);
    CONST(GTF_readonly);
    CONST(GTF_reading);
    CONST(GTF_writing);
    CONST(GTF_PWT);
    CONST(GTF_PCD);
    CONST(GTF_PAT);
    CONST(GTF_sub_page);
    CONST(GTF_type_mask);

    /* arch-x86/xen.h: trap_info.flags has no constants, only the TI_SET_* macros. */
    VALUE("TI_SET_DPL(0)", ti_set_dpl(0));
    VALUE("TI_SET_DPL(3)", ti_set_dpl(3));
    VALUE("TI_SET_IF(1)", ti_set_if(1));

    /* PVH / HVM: arch-x86/hvm/start_info.h, hvm/params.h, hvm/hvm_op.h, memory.h,
     * arch-x86/cpuid.h, elfnote.h */
#define S struct hvm_start_info
    TYPE("hvm_start_info", S);
    FIELD("hvm_start_info", S, magic);
    FIELD("hvm_start_info", S, version);
    FIELD("hvm_start_info", S, flags);
    FIELD("hvm_start_info", S, nr_modules);
    FIELD("hvm_start_info", S, modlist_paddr);
    FIELD("hvm_start_info", S, cmdline_paddr);
    FIELD("hvm_start_info", S, rsdp_paddr);
    FIELD("hvm_start_info", S, memmap_paddr);
    FIELD("hvm_start_info", S, memmap_entries);
    FIELD("hvm_start_info", S, reserved);
#undef S
#define S struct hvm_memmap_table_entry
    TYPE("hvm_memmap_table_entry", S);
    FIELD("hvm_memmap_table_entry", S, addr);
    FIELD("hvm_memmap_table_entry", S, size);
    FIELD("hvm_memmap_table_entry", S, type);
    FIELD("hvm_memmap_table_entry", S, reserved);
#undef S
#define S struct xen_hvm_param
    TYPE("xen_hvm_param", S);
    FIELD("xen_hvm_param", S, domid);
    FIELD("xen_hvm_param", S, pad);
    FIELD("xen_hvm_param", S, index);
    FIELD("xen_hvm_param", S, value);
#undef S
#define S struct xen_add_to_physmap
    TYPE("xen_add_to_physmap", S);
    FIELD("xen_add_to_physmap", S, domid);
    FIELD("xen_add_to_physmap", S, size);
    FIELD("xen_add_to_physmap", S, space);
    FIELD("xen_add_to_physmap", S, idx);
    FIELD("xen_add_to_physmap", S, gpfn);
#undef S
    CONST(XEN_HVM_START_MAGIC_VALUE);
    CONST(XEN_ELFNOTE_PHYS32_ENTRY);
    CONST(XEN_HVM_MEMMAP_TYPE_RAM);
    CONST(XEN_HVM_MEMMAP_TYPE_RESERVED);
    CONST(XEN_HVM_MEMMAP_TYPE_ACPI);
    CONST(HVMOP_set_param);
    CONST(HVMOP_get_param);
    CONST(HVM_PARAM_CALLBACK_IRQ);
    CONST(HVM_PARAM_STORE_PFN);
    CONST(HVM_PARAM_STORE_EVTCHN);
    CONST(HVM_PARAM_CONSOLE_PFN);
    CONST(HVM_PARAM_CONSOLE_EVTCHN);
    CONST(HVM_PARAM_CALLBACK_IRQ_TYPE_MASK);
    CONST(HVM_PARAM_CALLBACK_TYPE_VECTOR);
    CONST(XENMEM_add_to_physmap);
    CONST(XENMEM_current_reservation);
    CONST(XENMAPSPACE_shared_info);
    CONST(XENMAPSPACE_grant_table);
    CONST(XEN_CPUID_FIRST_LEAF);
    CONST(XEN_CPUID_SIGNATURE_EBX);
    CONST(XEN_CPUID_SIGNATURE_ECX);
    CONST(XEN_CPUID_SIGNATURE_EDX);
    /* io/blkif.h: ring entries, operations, statuses, info flags */
#define S struct blkif_request_segment
    TYPE("blkif_request_segment", S);
    FIELD("blkif_request_segment", S, gref);
    FIELD("blkif_request_segment", S, first_sect);
    FIELD("blkif_request_segment", S, last_sect);
#undef S
#define S struct blkif_request
    TYPE("blkif_request", S);
    FIELD("blkif_request", S, operation);
    FIELD("blkif_request", S, nr_segments);
    FIELD("blkif_request", S, handle);
    FIELD("blkif_request", S, id);
    FIELD("blkif_request", S, sector_number);
    FIELD("blkif_request", S, seg);
#undef S
#define S struct blkif_request_discard
    TYPE("blkif_request_discard", S);
    FIELD("blkif_request_discard", S, operation);
    FIELD("blkif_request_discard", S, flag);
    FIELD("blkif_request_discard", S, handle);
    FIELD("blkif_request_discard", S, id);
    FIELD("blkif_request_discard", S, sector_number);
    FIELD("blkif_request_discard", S, nr_sectors);
#undef S
#define S struct blkif_request_indirect
    TYPE("blkif_request_indirect", S);
    FIELD("blkif_request_indirect", S, operation);
    FIELD("blkif_request_indirect", S, indirect_op);
    FIELD("blkif_request_indirect", S, nr_segments);
    FIELD("blkif_request_indirect", S, id);
    FIELD("blkif_request_indirect", S, sector_number);
    FIELD("blkif_request_indirect", S, handle);
    FIELD("blkif_request_indirect", S, indirect_grefs);
#undef S
#define S struct blkif_response
    TYPE("blkif_response", S);
    FIELD("blkif_response", S, id);
    FIELD("blkif_response", S, operation);
    FIELD("blkif_response", S, status);
#undef S
    CONST(BLKIF_OP_READ);
    CONST(BLKIF_OP_WRITE);
    CONST(BLKIF_OP_WRITE_BARRIER);
    CONST(BLKIF_OP_FLUSH_DISKCACHE);
    CONST(BLKIF_OP_RESERVED_1);
    CONST(BLKIF_OP_DISCARD);
    CONST(BLKIF_OP_INDIRECT);
    CONST(BLKIF_MAX_SEGMENTS_PER_REQUEST);
    CONST(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
    CONST(BLKIF_DISCARD_SECURE);
    CONST(BLKIF_RSP_EOPNOTSUPP);
    CONST(BLKIF_RSP_ERROR);
    CONST(BLKIF_RSP_OKAY);
    CONST(VDISK_CDROM);
    CONST(VDISK_REMOVABLE);
    CONST(VDISK_READONLY);
    VALUE("sizeof(union_blkif_sring_entry)", sizeof(union blkif_sring_entry));
    VALUE("__CONST_RING_SIZE(blkif,4096)", __CONST_RING_SIZE(blkif, 4096));
    /* io/netif.h: ring entries, flags, status codes, extra-info types */
#define S struct netif_tx_request
    TYPE("netif_tx_request", S);
    FIELD("netif_tx_request", S, gref);
    FIELD("netif_tx_request", S, offset);
    FIELD("netif_tx_request", S, flags);
    FIELD("netif_tx_request", S, id);
    FIELD("netif_tx_request", S, size);
#undef S
#define S struct netif_extra_info
    TYPE("netif_extra_info", S);
    FIELD("netif_extra_info", S, type);
    FIELD("netif_extra_info", S, flags);
    FIELD("netif_extra_info", S, u);
#undef S
#define S struct netif_tx_response
    TYPE("netif_tx_response", S);
    FIELD("netif_tx_response", S, id);
    FIELD("netif_tx_response", S, status);
#undef S
#define S struct netif_rx_request
    TYPE("netif_rx_request", S);
    FIELD("netif_rx_request", S, id);
    FIELD("netif_rx_request", S, pad);
    FIELD("netif_rx_request", S, gref);
#undef S
#define S struct netif_rx_response
    TYPE("netif_rx_response", S);
    FIELD("netif_rx_response", S, id);
    FIELD("netif_rx_response", S, offset);
    FIELD("netif_rx_response", S, flags);
    FIELD("netif_rx_response", S, status);
#undef S
    CONST(NETTXF_csum_blank);
    CONST(NETTXF_data_validated);
    CONST(NETTXF_more_data);
    CONST(NETTXF_extra_info);
    CONST(NETRXF_data_validated);
    CONST(NETRXF_csum_blank);
    CONST(NETRXF_more_data);
    CONST(NETRXF_extra_info);
    CONST(NETRXF_gso_prefix);
    /* NETIF_RSP_DROPPED and _ERROR are negative: compared as their negation. */
    VALUE("-NETIF_RSP_DROPPED", -(NETIF_RSP_DROPPED));
    VALUE("-NETIF_RSP_ERROR", -(NETIF_RSP_ERROR));
    CONST(NETIF_RSP_OKAY);
    CONST(NETIF_RSP_NULL);
    CONST(XEN_NETIF_EXTRA_TYPE_NONE);
    CONST(XEN_NETIF_EXTRA_TYPE_GSO);
    CONST(XEN_NETIF_EXTRA_TYPE_MCAST_ADD);
    CONST(XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
    CONST(XEN_NETIF_EXTRA_TYPE_HASH);
    CONST(XEN_NETIF_EXTRA_TYPE_MAX);
    CONST(XEN_NETIF_EXTRA_FLAG_MORE);
    CONST(XEN_NETIF_NR_SLOTS_MIN);
    CONST(XEN_NETIF_MAX_TX_SIZE);

    printf("end %lu\n", nr_facts);
    if (fflush(stdout) != 0 || ferror(stdout))
        return 1;
    return 0;
}
