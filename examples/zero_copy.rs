//! Zero-copy payloads, end to end: worker processes make large values, the driver reads them
//! where the workers wrote them (shared-memory rings), and a task reads its input in place.
//!
//! ```text
//! cargo run --release --example zero_copy
//! ```
//!
//! 1. `render` (2 worker processes) fills 16 "images" of 4 MiB in place in its output ring;
//!    the driver receives them as `ShmBytes` and reads them in place (no copy).
//! 2. `histogram` (2 worker processes) reads each image in place from the ring (the image
//!    travels as a handle from `render`, never through the driver).
//! 3. `spectrum` fills `f32` arrays in place; the driver reads them as `ShmSlice<f32>`.
//!
//! The program is its own worker: `skorche::worker::enter()` runs first in `main`.

use skorche::{Pipeline, ShmBytes, ShmSlice};

const IMAGE: usize = 4 << 20;

fn image_len(_: &u64) -> usize {
    IMAGE
}

/// A synthetic image: a gradient shifted by the image number.
fn render(n: u64, out: &mut [u8]) {
    for (i, px) in out.iter_mut().enumerate() {
        *px = (i as u64 / 4096 + n) as u8;
    }
}

/// How many pixels are brighter than 127, read where the image lies.
fn bright_pixels(image: &[u8]) -> u64 {
    image.iter().filter(|&&p| p > 127).count() as u64
}

fn spectrum_len(bins: &u64) -> usize {
    *bins as usize
}

fn spectrum(bins: u64, out: &mut [f32]) {
    for (i, x) in out.iter_mut().enumerate() {
        *x = (i as f32 / bins as f32 * std::f32::consts::PI).sin();
    }
}

skorche::worker::task! {
    static RENDER: u64 => Vec<u8> = fill_bytes("example_render", image_len, render);
    static BRIGHT: ShmBytes => u64 = map_in_place("example_bright", bright_pixels);
    static SPECTRUM: u64 => ShmSlice<f32> = fill_slice("example_spectrum", spectrum_len, spectrum);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    skorche::worker::enter();

    // 1. Images read by the driver in place.
    let p = Pipeline::new();
    let images = p
        .source(0..16u64)
        .map_task_as::<_, ShmBytes>(&RENDER)
        .processes(2)
        .name("render");
    let mut kept = Vec::new();
    for image in p.run_iter(images)? {
        let image = image?;
        println!(
            "image of {} MiB, read {}: first pixel {}, last pixel {}",
            image.len() >> 20,
            if image.in_ring() {
                "in place from the worker's ring"
            } else {
                "from an owned copy"
            },
            image[0],
            image[image.len() - 1],
        );
        kept.push(image);
    }
    // The run has ended; the values still read their ring records. Dropping them releases
    // the records and, with the last one, unmaps the rings.
    println!("kept {} images after the run: {:?}", kept.len(), kept[0]);
    drop(kept);

    // 2. A task that reads its input in place, fed from another process stage.
    let p = Pipeline::new();
    let images = p
        .source(0..16u64)
        .map_task_as::<_, ShmBytes>(&RENDER)
        .processes(2)
        .name("render");
    let counts = images.map_task(&BRIGHT).processes(2).name("histogram");
    let (counts, report) = p.run_iter(counts)?.collect_report()?;
    println!(
        "bright pixels per image: {counts:?} ({} images handed from render to histogram as ring handles)",
        report.stage("render").map_or(0, |s| s.forwarded)
    );

    // 3. Typed arrays filled in place.
    let p = Pipeline::new();
    let spectra = p
        .source([1u64 << 20, 1 << 21])
        .map_task_as::<_, ShmSlice<f32>>(&SPECTRUM)
        .processes(2);
    for s in p.run_iter(spectra)? {
        let s = s?;
        let peak = s.iter().copied().fold(f32::MIN, f32::max);
        println!("spectrum of {} f32 values ({s:?}): peak {peak:.3}", s.len());
    }
    Ok(())
}
