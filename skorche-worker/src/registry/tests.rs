use super::*;
use crate::builtin;
use crate::protocol::FailureKind;
use crate::values::{ValueRef, Values};

fn parse_even(x: u64) -> Result<u64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

fn count_init(start: u64) -> u64 {
    start
}

fn count(total: &mut u64, x: u64) -> u64 {
    *total += x;
    *total
}

fn words(s: String) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

crate::task! {
    static T_HALF: u64 => u64 = try_map("test_registry_half", parse_even);
    static T_COUNT: u64 => u64 = stateful("test_registry_count", count_init, count);
    static T_WORDS: String => String = flat_map("test_registry_words", words);
}

#[test]
fn builtin_tasks_are_registered_under_their_names() {
    for name in [
        "identity_u64",
        "produce_bytes",
        "checksum_bytes",
        "sleep_jitter",
        "fail_on",
        "panic_on",
        "abort_on",
        "repeat_n",
        "produce_bytes_in_place",
    ] {
        let task = lookup(name).unwrap_or_else(|| panic!("{name} not registered"));
        assert_eq!(task.name(), name);
    }
    assert!(lookup("no_such_task").is_none());
}

#[test]
fn registered_names_are_unique() {
    assert_eq!(duplicate_names(), Vec::<&str>::new());
}

#[test]
fn type_names_are_recorded() {
    let t = lookup("produce_bytes").unwrap();
    assert_eq!(t.input_type(), "(u64, u64)");
    assert_eq!(t.output_type(), "alloc::vec::Vec<u8>");
    assert_eq!(builtin::PRODUCE_BYTES.input_type(), t.input_type());
    let b = builtin::REPEAT_N.bind();
    assert_eq!((b.input_type(), b.output_type()), ("u64", "u64"));
    assert!(b.is_flat_map());
    assert!(!builtin::IDENTITY_U64.bind().is_flat_map());
    assert_eq!(T_WORDS.kind(), TaskKind::FlatMap);
    assert_eq!(
        lookup("test_registry_count").unwrap().kind(),
        TaskKind::Stateful
    );
}

#[test]
fn try_map_reports_the_error_display() {
    let mut sut = T_HALF.bind().instantiate().unwrap();
    assert_eq!(sut.call(4).unwrap(), Outputs::One(2));
    let err = sut.call(3).unwrap_err();
    assert_eq!(err.kind, FailureKind::Error);
    assert_eq!(err.message, "3 is odd");
}

#[test]
fn stateful_task_builds_state_from_params_per_instance() {
    let bound = T_COUNT.bind_with(&100u64);
    assert_eq!(
        bound.params(),
        crate::codec::encode(&100u64).unwrap().as_slice()
    );
    let mut a = bound.instantiate().unwrap();
    let mut b = bound.clone().instantiate().unwrap();
    assert_eq!(a.call(1).unwrap(), Outputs::One(101));
    assert_eq!(a.call(2).unwrap(), Outputs::One(103));
    assert_eq!(b.call(5).unwrap(), Outputs::One(105));
}

#[test]
fn stateful_task_with_bad_params_fails_to_instantiate() {
    let err = T_COUNT
        .bind()
        .instantiate()
        .err()
        .expect("no params for a u64 state");
    assert_eq!(err.kind, FailureKind::Codec);
    assert!(err.message.contains("test_registry_count"), "{err}");
}

#[test]
fn panic_is_caught_with_its_message() {
    let mut sut = builtin::PANIC_ON.bind_with(&7u64).instantiate().unwrap();
    assert_eq!(sut.call(6).unwrap(), Outputs::One(6));
    let err = sut.call(7).unwrap_err();
    assert_eq!(err.kind, FailureKind::Panic);
    assert_eq!(err.message, "panic_on: panicking on item 7");
    assert_eq!(sut.call(8).unwrap(), Outputs::One(8));
}

#[test]
fn flat_map_returns_many() {
    let mut sut = T_WORDS.bind().instantiate().unwrap();
    assert_eq!(
        sut.call("a bc  d".into()).unwrap().into_vec(),
        vec!["a", "bc", "d"]
    );
    assert!(sut.call(String::new()).unwrap().is_empty());
}

#[test]
fn erased_instance_decodes_and_encodes_payloads() {
    let io = PayloadIo::default();
    let mut sut = lookup("repeat_n").unwrap().instantiate_erased(&[]).unwrap();
    let mut out = Values::default();
    let three = codec::encode(&3u64).unwrap();
    assert_eq!(
        sut.call_value(ValueRef::Inline(&three), &io, &mut out),
        Ok(3)
    );
    assert_eq!(out.len(), 3);
    let bad = sut
        .call_value(ValueRef::Inline(&[0xff]), &io, &mut out)
        .unwrap_err();
    assert_eq!(bad.kind, FailureKind::Codec);
    assert_eq!(out.len(), 3, "a failed call leaves no output behind");
}

#[test]
fn bound_task_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<BoundTask<u64, u64>>();
    check::<BoundTask<Vec<u8>, String>>();
}

#[test]
fn fill_bytes_task_gives_the_same_bytes_in_thread_mode() {
    let mut sut = builtin::PRODUCE_BYTES_IN_PLACE
        .bind()
        .instantiate()
        .unwrap();
    for len in [0u64, 1, 7, 8, 9, 1000] {
        let out = sut.call((3, len)).unwrap().into_vec();
        assert_eq!(out, vec![builtin::produce_bytes((3, len))]);
    }
    assert_eq!(builtin::PRODUCE_BYTES_IN_PLACE.kind(), TaskKind::FillBytes);
}

#[test]
fn fill_bytes_task_writes_into_the_output_ring() {
    let ring = crate::shm::Ring::create_in_process(1 << 20).unwrap();
    let io = PayloadIo::new(vec![ring], Some(0), 100, None);
    let mut sut = lookup("produce_bytes_in_place")
        .unwrap()
        .instantiate_erased(&[])
        .unwrap();
    let input = |len: u64| codec::encode(&(5u64, len)).unwrap();
    let mut out = Values::default();
    sut.call_value(ValueRef::Inline(&input(50)), &io, &mut out)
        .unwrap();
    let expected = builtin::produce_bytes((5, 50));
    assert_eq!(out.last(), Some(ValueRef::Inline(&expected)));
    sut.call_value(ValueRef::Inline(&input(5000)), &io, &mut out)
        .unwrap();
    let Some(ValueRef::Shm(big)) = out.last() else {
        panic!("expected a ring record: {out:?}")
    };
    let bytes: Vec<u8> =
        codec::decode_payload(&crate::protocol::Payload::Shm(*big), &io.rings).unwrap();
    assert_eq!(bytes, builtin::produce_bytes((5, 5000)));
}

fn add_one(x: u64) -> u64 {
    x + 1
}

crate::task! {
    static T_V_FIRST: u64 => u64 = map("test_registry_versioned", add_one).workers(3).version("7");
    static T_V_LAST: u64 => u64 = flat_map("test_registry_versioned_flat", words_of_u64).version("b").processes(2);
}

fn words_of_u64(x: u64) -> Vec<u64> {
    vec![x, x]
}

#[test]
fn a_version_is_declared_before_or_after_a_scale() {
    assert_eq!(T_V_FIRST.version(), Some("7"));
    assert_eq!(T_V_FIRST.default_scale(), Some(DefaultScale::Workers(3)));
    assert_eq!(T_V_LAST.version(), Some("b"));
    assert_eq!(T_V_LAST.default_scale(), Some(DefaultScale::Processes(2)));
    assert_eq!(T_HALF.version(), None);
    assert_eq!(T_V_FIRST.bind().identity().version.as_deref(), Some("7"));
    let erased = lookup("test_registry_versioned").unwrap();
    assert_eq!(erased.version(), Some("7"));
}

#[test]
fn a_worker_resolving_a_chain_announces_the_version_the_driver_expects() {
    for chain in [
        T_V_FIRST.then(&T_V_LAST),
        T_HALF.then(&T_V_FIRST).then(&T_V_LAST),
        T_HALF.then(T_HALF.then(&T_V_FIRST)),
    ] {
        let resolved = resolve(chain.name()).unwrap();
        assert_eq!(resolved.identity(), chain.identity());
    }
    assert_eq!(
        T_HALF.then(&T_V_FIRST).then(&T_V_LAST).version(),
        Some(" => 7 => b")
    );
    assert_eq!(T_HALF.then(&T_HALF).version(), None);
}
