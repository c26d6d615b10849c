//! `evtchn::EvtchnOps` for real Xen: one `event_channel_op` hypercall per operation.
//!
//! 3-level registration is refused here without any hypercall: no Xen ever merged that ABI,
//! and the operation numbers it once proposed are FIFO's on every Xen since 4.4.

use evtchn::{EvtchnOps, ThreeLevelRegistration};
use xen_abi::consts::{evtchnop, DOMID_SELF};
use xen_abi::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindVirq, EvtchnClose,
    EvtchnExpandArray, EvtchnInitControl, EvtchnSetPriority, EvtchnUnmask,
};
use xen_hal::{Port, XenError};

use crate::hypercall::event_channel_op;
use crate::Xen;

impl EvtchnOps for Xen {
    fn alloc_unbound(&self, remote_dom: u16) -> Result<Port, XenError> {
        let mut a = EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom,
            port: 0,
        };
        // SAFETY: the argument structure of EVTCHNOP_alloc_unbound.
        unsafe { event_channel_op(evtchnop::ALLOC_UNBOUND, &mut a) }?;
        Ok(a.port)
    }

    fn bind_interdomain(&self, remote_dom: u16, remote_port: Port) -> Result<Port, XenError> {
        let mut a = EvtchnBindInterdomain {
            remote_dom,
            remote_port,
            local_port: 0,
        };
        // SAFETY: the argument structure of EVTCHNOP_bind_interdomain.
        unsafe { event_channel_op(evtchnop::BIND_INTERDOMAIN, &mut a) }?;
        Ok(a.local_port)
    }

    fn bind_virq(&self, virq: u32, vcpu: u32) -> Result<Port, XenError> {
        let mut a = EvtchnBindVirq {
            virq,
            vcpu,
            port: 0,
        };
        // SAFETY: the argument structure of EVTCHNOP_bind_virq.
        unsafe { event_channel_op(evtchnop::BIND_VIRQ, &mut a) }?;
        Ok(a.port)
    }

    fn bind_ipi(&self, vcpu: u32) -> Result<Port, XenError> {
        let mut a = EvtchnBindIpi { vcpu, port: 0 };
        // SAFETY: the argument structure of EVTCHNOP_bind_ipi.
        unsafe { event_channel_op(evtchnop::BIND_IPI, &mut a) }?;
        Ok(a.port)
    }

    fn send(&self, port: Port) -> Result<(), XenError> {
        crate::hypercall::evtchn_send(port)
    }

    fn close(&self, port: Port) -> Result<(), XenError> {
        let mut a = EvtchnClose { port };
        // SAFETY: the argument structure of EVTCHNOP_close.
        unsafe { event_channel_op(evtchnop::CLOSE, &mut a) }.map(|_| ())
    }

    fn unmask(&self, port: Port) -> Result<(), XenError> {
        let mut a = EvtchnUnmask { port };
        // SAFETY: the argument structure of EVTCHNOP_unmask.
        unsafe { event_channel_op(evtchnop::UNMASK, &mut a) }.map(|_| ())
    }

    fn init_control(&self, control_gfn: u64, offset: u32, vcpu: u32) -> Result<u8, XenError> {
        let mut a = EvtchnInitControl {
            control_gfn,
            offset,
            vcpu,
            link_bits: 0,
            pad: [0; 7],
        };
        // SAFETY: the argument structure of EVTCHNOP_init_control; the frame is a page the
        // kernel gave up for good (evtchn::PageSource), so Xen may write it for ever.
        unsafe { event_channel_op(evtchnop::INIT_CONTROL, &mut a) }?;
        Ok(a.link_bits)
    }

    fn expand_array(&self, array_gfn: u64) -> Result<(), XenError> {
        let mut a = EvtchnExpandArray { array_gfn };
        // SAFETY: the argument structure of EVTCHNOP_expand_array; the frame is given up for
        // good as above.
        unsafe { event_channel_op(evtchnop::EXPAND_ARRAY, &mut a) }.map(|_| ())
    }

    fn set_priority(&self, port: Port, priority: u32) -> Result<(), XenError> {
        let mut a = EvtchnSetPriority { port, priority };
        // SAFETY: the argument structure of EVTCHNOP_set_priority.
        unsafe { event_channel_op(evtchnop::SET_PRIORITY, &mut a) }.map(|_| ())
    }

    fn register_3level(&self, _reg: &ThreeLevelRegistration) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
}
