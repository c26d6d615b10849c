//! Helpers shared by the evtchn integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use evtchn::model::{HostPages, Model, ModelConfig};
use evtchn::{AbiChoice, AbiSelection, EventChannels, Handler, Port};

pub type Evc = EventChannels<Arc<Model>>;

/// A guest on a fresh model: (model, event channels, page source, selection).
pub fn guest(cfg: ModelConfig, choice: AbiChoice) -> (Arc<Model>, Evc, HostPages, AbiSelection) {
    let model = Arc::new(Model::new(cfg));
    guest_on(model, choice)
}

/// A guest on an existing model.
pub fn guest_on(
    model: Arc<Model>,
    choice: AbiChoice,
) -> (Arc<Model>, Evc, HostPages, AbiSelection) {
    let mut pages = model.pages();
    let shared = model.shared_info();
    let (evc, sel) = EventChannels::new(model.clone(), shared, &mut pages, choice);
    (model, evc, pages, sel)
}

/// Records the ports its handlers are called with, in order.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Port>>>);

impl Recorder {
    pub fn handler(&self) -> Handler {
        let log = self.0.clone();
        Box::new(move |p| log.lock().unwrap().push(p))
    }
    /// Takes what was recorded so far.
    pub fn take(&self) -> Vec<Port> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// vCPU 0's evtchn_upcall_pending.
pub fn upcall_pending(model: &Model) -> u8 {
    model.shared_info().vcpu_info[0]
        .evtchn_upcall_pending
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// vCPU `v`'s 2-level / 3-level L1 selector.
pub fn sel(model: &Model, v: usize) -> u64 {
    model.shared_info().vcpu_info[v]
        .evtchn_pending_sel
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// Word `w` of the 2-level pending bitmap.
pub fn pending_word(model: &Model, w: usize) -> u64 {
    model.shared_info().evtchn_pending[w].load(std::sync::atomic::Ordering::SeqCst)
}
