//! ChainIDs (OCI image spec, "Layer ChainID"): the identity of a stack of layers, as
//! opposed to one layer's DiffID. `chain(L0) = diffID(L0)` and
//! `chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln))`, both digests in their
//! `sha256:<hex>` form. Storage drivers key applied layer stacks by ChainID, so two
//! images sharing a base share its directories.

use crate::digest::Digest;

/// The ChainID of a stack of layers with these DiffIDs, bottom first; `None` for no layers.
pub fn chain_id(diff_ids: &[Digest]) -> Option<Digest> {
    chain_ids(diff_ids).pop()
}

/// The ChainID of every prefix of the stack: element `i` names layers `0..=i`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => *diff_id,
            Some(parent) => Digest::of_bytes(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::from_hex(s).unwrap()
    }

    // Computed independently in the shell:
    //   a=$(printf a | sha256sum | cut -d' ' -f1); b=...; c=...
    //   c1=$(printf "sha256:$a sha256:$b" | sha256sum); c2=$(printf "sha256:$c1 sha256:$c" | sha256sum)
    const A: &str = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
    const B: &str = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
    const C: &str = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6";
    const C1: &str = "51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676";
    const C2: &str = "2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106";

    #[test]
    fn chain_of_one_layer_is_its_diff_id() {
        assert_eq!(chain_id(&[d(A)]), Some(d(A)));
        assert_eq!(chain_id(&[]), None);
    }

    #[test]
    fn chain_matches_values_computed_with_sha256sum() {
        assert_eq!(chain_ids(&[d(A), d(B), d(C)]), vec![d(A), d(C1), d(C2)]);
        assert_eq!(chain_id(&[d(A), d(B), d(C)]), Some(d(C2)));
    }
}
