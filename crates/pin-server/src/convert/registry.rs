//! Registry loads: the tally of a batch.

use pin_proto::v1 as pb;
use pin_store::repo::persons::Upserted;

use super::problem_to_pb;
use crate::usecase::registry::RecordOutcome;

/// How many rejected records an answer lists in detail.
pub const MAX_LISTED_REJECTIONS: usize = 1000;

/// Adds up the outcomes of a batch.
#[derive(Debug, Default)]
pub struct Tally {
    /// The answer being built.
    pub response: pb::UpsertPersonsResponse,
}

impl Tally {
    /// Counts one record at position `index`.
    pub fn count(&mut self, index: u32, codice_fiscale: &str, outcome: RecordOutcome) {
        let r = &mut self.response;
        r.received += 1;
        match outcome {
            RecordOutcome::Stored(Upserted::Inserted) => r.inserted += 1,
            RecordOutcome::Stored(Upserted::Updated) => r.updated += 1,
            RecordOutcome::Stored(Upserted::Unchanged) => r.unchanged += 1,
            RecordOutcome::Rejected(problems) => {
                r.rejected_count += 1;
                if r.rejected.len() < MAX_LISTED_REJECTIONS {
                    r.rejected.push(pb::RejectedRecord {
                        index,
                        codice_fiscale: codice_fiscale.to_owned(),
                        problems: problems.iter().map(problem_to_pb).collect(),
                    });
                }
            }
        }
    }
}
