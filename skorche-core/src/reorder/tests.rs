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
