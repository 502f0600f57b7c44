use super::*;
use crate::order::Tag;

fn item(tag: Tag, v: u32) -> Packet<u32> {
    Packet::Item {
        seq: 0,
        tag,
        value: v,
    }
}

fn values(r: &mut Reorder<u32>) -> Vec<u32> {
    std::iter::from_fn(|| r.pop())
        .filter_map(|p| match p {
            Packet::Item { value, .. } => Some(value),
            _ => None,
        })
        .collect()
}

#[test]
fn out_of_order_roots_come_out_in_order() {
    let mut sut = Reorder::default();
    assert_eq!(sut.push(item(Tag::root(2), 2)), 0);
    assert_eq!(sut.push(item(Tag::root(1), 1)), 0);
    assert_eq!(sut.held_items(), 2);
    assert_eq!(sut.push(item(Tag::root(0), 0)), 3);
    assert_eq!(values(&mut sut), [0, 1, 2]);
    assert_eq!(sut.held_items(), 0);
}

#[test]
fn a_skip_completes_an_empty_position() {
    let mut sut = Reorder::default();
    sut.push(item(Tag::root(1), 1));
    assert_eq!(sut.push(Packet::Skip(Tag::root(0))), 2);
    assert_eq!(values(&mut sut), [1]);
}

#[test]
fn children_of_a_flat_map_wait_for_the_last_child() {
    let mut sut = Reorder::default();
    let parent = Tag::root(0);
    assert_eq!(sut.push(item(parent.child(1, true), 11)), 0);
    assert_eq!(sut.push(item(Tag::root(1), 20)), 0);
    assert_eq!(sut.push(item(parent.child(0, false), 10)), 2);
    assert_eq!(values(&mut sut), [10, 11, 20]);
}

#[test]
fn split_branches_add_up_to_a_whole_position() {
    let mut sut = Reorder::default();
    let t = Tag::root(0);
    assert_eq!(sut.push(Packet::Skip(t.share(3))), 0);
    assert_eq!(sut.push(item(t.share(3), 7)), 0);
    assert_eq!(sut.push(Packet::Skip(t.share(3))), 1);
    assert_eq!(values(&mut sut), [7]);
}

#[test]
fn an_item_split_then_expanded_completes_with_the_other_branch_skip() {
    let mut sut = Reorder::default();
    let t = Tag::root(0);
    let branch = t.share(2);
    assert_eq!(sut.push(item(branch.child(0, true), 5)), 0);
    assert_eq!(sut.push(Packet::Skip(t.share(2))), 1);
    assert_eq!(values(&mut sut), [5]);
}

#[test]
fn a_whole_batch_stands_at_its_first_member() {
    let mut sut = Reorder::default();
    let group = Tag::group(vec![Tag::root(1), Tag::root(0)]);
    assert_eq!(sut.push(item(group, 99)), 2);
    assert_eq!(values(&mut sut), [99]);
}

#[test]
fn a_load_on_one_branch_completes_at_its_share() {
    let mut sut = Reorder::new(crate::order::Share::WHOLE.split(2));
    let t0 = Tag::root(0);
    let t1 = Tag::root(1);
    assert_eq!(sut.push(item(t1.share(2), 1)), 0);
    assert_eq!(sut.push(Packet::Skip(t0.share(2))), 2);
    assert_eq!(values(&mut sut), [1]);
}

#[test]
fn copies_of_a_tee_merged_again_all_leave_in_branch_order() {
    let mut sut = Reorder::default();
    let t0 = Tag::root(0);
    let t1 = Tag::root(1);
    assert_eq!(sut.push(item(t1.lane(2, 1), 11)), 0);
    assert_eq!(sut.push(item(t0.lane(2, 1), 1)), 0);
    assert_eq!(sut.held_items(), 2);
    assert_eq!(sut.push(item(t0.lane(2, 0), 0)), 1);
    assert_eq!(sut.push(item(t1.lane(2, 0), 10)), 1);
    assert_eq!(values(&mut sut), [0, 1, 10, 11]);
    assert_eq!(sut.held_items(), 0);
}

#[test]
fn copies_of_a_tee_expanded_on_every_branch_keep_their_own_children() {
    let mut sut = Reorder::default();
    let t = Tag::root(0);
    let (a, b, c) = (t.lane(3, 0), t.lane(3, 1), t.lane(3, 2));
    // Branch a expands into three outputs, branch b into two, branch c keeps its copy.
    assert_eq!(sut.push(item(b.child(1, true), 21)), 0);
    assert_eq!(sut.push(item(a.child(2, true), 12)), 0);
    assert_eq!(sut.push(item(c, 30)), 0);
    assert_eq!(sut.push(item(a.child(0, false), 10)), 0);
    assert_eq!(sut.push(item(b.child(0, false), 20)), 0);
    assert_eq!(sut.push(item(a.child(1, false), 11)), 1);
    assert_eq!(values(&mut sut), [10, 11, 12, 20, 21, 30]);
}

#[test]
fn a_load_on_one_branch_of_a_tee_completes_at_its_share() {
    let mut sut = Reorder::new(crate::order::Share::WHOLE.split(2));
    assert_eq!(sut.push(item(Tag::root(1).lane(2, 1), 1)), 0);
    assert_eq!(sut.push(item(Tag::root(0).lane(2, 1), 0)), 2);
    assert_eq!(values(&mut sut), [0, 1]);
}

#[test]
fn copies_of_a_marker_down_a_tee_leave_once() {
    let mut sut = Reorder::<u32>::default();
    let marker = |tag| Packet::Marker {
        tag,
        id: crate::packet::MarkerId { kind: 0, count: 0 },
    };
    assert_eq!(sut.push(marker(Tag::root(0).lane(2, 0))), 0);
    assert_eq!(sut.push(marker(Tag::root(0).lane(2, 1))), 1);
    assert!(matches!(sut.pop(), Some(Packet::Marker { .. })));
    assert!(sut.pop().is_none());
}

#[test]
fn nested_tees_keep_lanes_apart_and_in_path_order() {
    let mut sut = Reorder::default();
    let t = Tag::root(0);
    // Branch 0 is teed again three ways; branch 1 is not.
    let outer = [t.lane(2, 0), t.lane(2, 1)];
    let inner: Vec<Tag> = (0..3).map(|i| outer[0].lane(3, i)).collect();
    assert_eq!(sut.push(item(outer[1].child(0, true), 9)), 0);
    assert_eq!(sut.push(item(inner[2].child(0, true), 2)), 0);
    assert_eq!(sut.push(item(inner[0].child(0, true), 0)), 0);
    assert_eq!(sut.push(item(inner[1].child(0, true), 1)), 1);
    assert_eq!(values(&mut sut), [0, 1, 2, 9]);
}

#[test]
fn a_kept_copy_and_an_expanded_copy_leave_in_branch_order() {
    let mut sut = Reorder::default();
    let t = Tag::root(0);
    // Branch 0 dropped its copy, branch 1 expanded it, branch 2 kept it as it is.
    assert_eq!(sut.push(item(t.lane(3, 2), 2)), 0);
    assert_eq!(sut.push(Packet::Skip(t.lane(3, 0))), 0);
    assert_eq!(sut.push(item(t.lane(3, 1).child(0, true), 1)), 1);
    assert_eq!(values(&mut sut), [1, 2]);
}
