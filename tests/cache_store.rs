//! The cache store: damaged entries are misses that get replaced, never returned; least
//! recently used entries go first past the size limit; `gc` and `clear`; file digests.

#[path = "support/cache.rs"]
mod cache_support;
mod support;

use std::path::{Path, PathBuf};

use cache_support::{Calls, StoreDir};
use skorche::cache::Store;
use skorche::Pipeline;

/// Every object file of the store (values too large for the index).
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir.join("objects")).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

/// One cached stage making a 70 KiB result per item (an object file each).
fn run(dir: &Path, calls: &Calls) -> Vec<u64> {
    let p = Pipeline::new();
    p.cache_dir(dir);
    let c = calls.clone();
    let big = p
        .source(0..6u64)
        .cached()
        .map(move |n: u64| {
            c.hit(0);
            vec![n as u8; 70 * 1024]
        })
        .name("big");
    let mut sums: Vec<u64> = p
        .run_iter(big.map(|v: Vec<u8>| v.iter().map(|&b| u64::from(b)).sum()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    sums.sort();
    sums
}

#[test]
fn damaged_results_are_recomputed_and_replaced_never_returned() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-damaged");
        let calls = Calls::default();
        let good = run(dir.path(), &calls);
        assert_eq!(calls.take(), [6, 0, 0]);

        let files = objects(dir.path());
        assert_eq!(files.len(), 6);
        // A flipped bit in one, a truncation of another, a third one gone.
        let mut bytes = std::fs::read(&files[0]).unwrap();
        bytes[1000] ^= 0x10;
        std::fs::write(&files[0], bytes).unwrap();
        let len = std::fs::metadata(&files[1]).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&files[1])
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        std::fs::remove_file(&files[2]).unwrap();

        assert_eq!(run(dir.path(), &calls), good);
        assert_eq!(
            calls.take(),
            [3, 0, 0],
            "exactly the damaged ones run again"
        );
        assert_eq!(run(dir.path(), &calls), good);
        assert_eq!(calls.take(), [0, 0, 0], "and were replaced");
    });
}

#[test]
fn past_the_limit_the_least_recently_used_entries_go_first() {
    let dir = StoreDir::new("cache-lru");
    let mut store = Store::open_with_limit(dir.path(), 250 * 1024).unwrap();
    let value = |b: u8| vec![b; 100 * 1024];
    let [a, b, c] = [b"a", b"b", b"c"].map(|k| store.key_of(k));
    store.put(&a, &value(1)).unwrap();
    store.put(&b, &value(2)).unwrap();
    store.put(&c, &value(3)).unwrap();
    assert_eq!(store.get(&a).unwrap(), Some(value(1))); // a is now more recent than b
    let gc = store.gc().unwrap();
    assert_eq!(gc.evicted, 1);
    assert_eq!(store.get(&b).unwrap(), None);
    assert_eq!(store.get(&a).unwrap(), Some(value(1)));
    assert_eq!(store.get(&c).unwrap(), Some(value(3)));
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.bytes), (2, 200 * 1024));
    assert_eq!(objects(dir.path()).len(), 2, "b's file went with it");

    store.clear().unwrap();
    assert_eq!(store.stats().unwrap().entries, 0);
    assert!(objects(dir.path()).is_empty());
    assert_eq!(store.get(&a).unwrap(), None);
}

#[test]
fn gc_removes_files_no_entry_refers_to_and_keeps_the_rest() {
    let dir = StoreDir::new("cache-gc");
    let mut store = Store::open(dir.path()).unwrap();
    let k = store.key_of(b"kept");
    store.put(&k, &vec![7u8; 80 * 1024]).unwrap();
    // What a killed writer leaves: a temporary file, old enough to be known dead.
    let stray = dir.path().join("tmp").join("left-by-a-killed-run");
    std::fs::write(&stray, b"partial").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let gc = store.gc().unwrap();
    assert_eq!((gc.files, gc.damaged, gc.evicted), (1, 0, 0));
    assert!(!stray.exists());
    assert_eq!(store.get(&k).unwrap(), Some(vec![7u8; 80 * 1024]));
}

#[test]
fn a_file_digest_follows_the_content() {
    let dir = StoreDir::new("cache-files");
    let mut store = Store::open(dir.path().join("store")).unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, b"first").unwrap();
    let first = store.file_digest(&file).unwrap();
    assert_eq!(store.file_digest(&file).unwrap(), first);
    assert_eq!(first, store.key_of(b"first"));
    std::fs::write(&file, b"second, longer").unwrap();
    assert_eq!(
        store.file_digest(&file).unwrap(),
        store.key_of(b"second, longer")
    );
}

/// Several openers of a new store at once (processes starting the same pipeline): each
/// opens it. SQLite does not wait on some of the locks met while a new index is set up (the
/// switch to WAL, a read upgraded to a write): those attempts are retried, not reported.
#[test]
fn many_openers_of_a_new_store_at_once_all_succeed() {
    for round in 0..20 {
        let dir = StoreDir::new(&format!("openers-{round}"));
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        Store::open(dir.path()).map(|_| ())
                    })
                })
                .collect();
            for o in openers {
                if let Err(e) = o.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        });
    }
}
