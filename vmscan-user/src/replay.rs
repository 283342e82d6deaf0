//! A recording as a source of ticks, the way [`crate::live`] is for the
//! kernel: it reads the file record by record, decodes the ring-buffer
//! records once, and hands each tick over for [`Model::apply_tick`]. The
//! replay view and `vmscan replay` / `report` share it.

use std::path::Path;

use crate::{
    export::record::{self, Header, ReadError, Record},
    model::{
        event::{self, Decoded},
        input::{HookStatus, Host, Sample},
        lruvec::Model,
        totals::Totals,
    },
};

/// One recorded tick and the ring-buffer records drained before it.
pub struct RecordedTick {
    pub records: Vec<Decoded>,
    pub secs: f64,
    pub totals: Box<Totals>,
    pub sample: Box<Sample>,
}

impl RecordedTick {
    pub fn apply(&self, model: &mut Model) {
        model.apply_tick(&self.records, &self.totals, self.secs, &self.sample);
    }
}

/// What reading up to the next tick found.
pub enum Step {
    Tick(RecordedTick),
    /// The recording ended (`clean`: with an end record); `records` came
    /// after the last tick.
    End {
        clean: bool,
        records: Vec<Decoded>,
    },
    /// Reading stopped at a cut or corrupt record; `records` came before it.
    Stopped {
        error: ReadError,
        records: Vec<Decoded>,
    },
}

pub struct Replay {
    reader: record::Reader<std::io::BufReader<std::fs::File>>,
    /// Records read whole so far (the end record included).
    pub records: u64,
}

impl Replay {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            reader: record::open(path)?,
            records: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.reader.header
    }

    /// Where reading is in the file (bytes).
    pub fn offset(&self) -> u64 {
        self.reader.offset
    }

    /// The hooks as the recording saw them.
    pub fn hooks(&self) -> Vec<HookStatus> {
        self.header()
            .hooks
            .iter()
            .map(|(id, name, mech)| HookStatus {
                id: *id,
                name: name.clone(),
                mechanism: (!mech.is_empty()).then(|| mech.clone()),
                error: mech
                    .is_empty()
                    .then(|| "was not attached when this recording was made".to_owned()),
                notes: vec![],
            })
            .collect()
    }

    /// The recording's host, as far as the recording tells (BTF is assumed,
    /// kprobes are not).
    /// A model that counts as the recorded kernel did.
    pub fn model(&self) -> Model {
        let mut m = Model::default();
        let h = self.header();
        m.set_counting(h.counting.unwrap_or_default());
        let refault = h
            .hooks
            .iter()
            .any(|(id, _, mech)| *id == vmscan_common::hook::REFAULT && !mech.is_empty());
        let unavailable = (!refault)
            .then(|| "workingset_refault was not attached when this recording was made".to_owned());
        m.set_refaults(unavailable, None, h.page_size);
        m
    }

    pub fn host(&self) -> Host {
        let h = self.header();
        Host {
            kernel: h.kernel.clone(),
            numa_nodes: h.numa_nodes.clone(),
            btf: true,
            kprobes: false,
        }
    }

    /// Reads records up to and including the next tick.
    pub fn next_tick(&mut self) -> Step {
        let mut records = Vec::new();
        loop {
            let next = self.reader.next_record();
            if let Ok(Some(_)) = next {
                self.records += 1;
            }
            match next {
                Ok(Some(Record::Events(evs))) => records.extend(event::decode(&evs)),
                Ok(Some(Record::Tick {
                    secs,
                    totals,
                    sample,
                })) => {
                    return Step::Tick(RecordedTick {
                        records,
                        secs,
                        totals,
                        sample,
                    });
                }
                Ok(Some(Record::End { .. })) => {
                    return Step::End {
                        clean: true,
                        records,
                    };
                }
                Ok(None) => {
                    return Step::End {
                        clean: false,
                        records,
                    };
                }
                Err(error) => return Step::Stopped { error, records },
            }
        }
    }
}
