//! The guide's practical example: download ten images, first one after the other, then on a
//! thread pool with `map`.
//!
//! The demo needs no internet: it starts its own HTTP server on 127.0.0.1 (with tokio), which
//! serves ten generated "photos" (a few hundred KB of deterministic bytes each, named after the
//! guide's Unsplash photo ids) and answers each request after 100–150 ms, as a distant server
//! would. The client is a tiny blocking HTTP/1.1 GET over `std::net::TcpStream`, the part
//! Python's `requests.get(url).content` plays. Files go to a temporary folder, removed at the
//! end.
//!
//! Python: `with ThreadPoolExecutor() as executor: executor.map(download_image, img_urls)`.
//! Runs as `cargo xtask demo --scenario image_download`.

use std::{
    fs,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::pool::ThreadPoolExecutor;

/// The guide's photo ids (its `img_urls` are `https://images.unsplash.com/<id>?…`).
const PHOTOS: [&str; 10] = [
    "photo-1516117172878-fd2c41f4a759",
    "photo-1532009324734-20a7a5813719",
    "photo-1524429656589-6633a470097c",
    "photo-1530224264768-7ff8c1789d79",
    "photo-1564135624576-c5c88640f235",
    "photo-1541698444083-023c97d3f4b6",
    "photo-1522364723953-452d3431c267",
    "photo-1513938709626-033611b8cc03",
    "photo-1507143550189-fed454f93097",
    "photo-1493976040374-85c8e12f0c0e",
];

/// The bytes of photo `i`: a JPEG signature, then 200–400 KB of deterministic noise.
fn photo_bytes(i: usize) -> Vec<u8> {
    let len = 200_000 + (i * 21_011) % 200_000;
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((4..len).map(|_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 56) as u8
    }));
    bytes
}

/// How long the server takes to answer for photo `i`: 100–150 ms.
fn delay(i: usize) -> Duration {
    Duration::from_millis(100 + (i as u64 * 37) % 51)
}

/// Serves `GET /<photo id>` on 127.0.0.1 until the runtime is dropped.
async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request);
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let response = match PHOTOS.iter().position(|p| *p == path) {
                Some(i) => {
                    tokio::time::sleep(delay(i)).await;
                    let body = photo_bytes(i);
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = socket.write_all(&response).await;
            let _ = socket.shutdown().await;
        });
    }
}

/// A minimal blocking HTTP/1.1 GET: the body of a 200 response.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "bad response: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(response.split_off(split + 4))
}

/// The guide's `download_image`: fetch one photo, write `<id>.jpg`, say so.
fn download_image(addr: SocketAddr, dir: &Path, photo: &str) -> std::io::Result<usize> {
    let img_bytes = http_get(addr, &format!("/{photo}"))?;
    let img_name = format!("{photo}.jpg");
    fs::write(dir.join(&img_name), &img_bytes)?;
    println!("{img_name} was downloaded...");
    Ok(img_bytes.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(serve(listener));
    println!(
        "(The guide downloads from images.unsplash.com; this demo serves ten photos itself at http://{addr}/, 100-150 ms per request.)"
    );

    let dir: PathBuf =
        std::env::temp_dir().join(format!("weft-demo-image-download-{}", std::process::id()));
    let expected: usize = (0..PHOTOS.len()).map(|i| photo_bytes(i).len()).sum();

    let seq_dir = dir.join("sequential");
    fs::create_dir_all(&seq_dir)?;
    println!("One download after the other:");
    let start = Instant::now();
    let mut total = 0;
    for photo in PHOTOS {
        total += download_image(addr, &seq_dir, photo)?;
    }
    let sequential = start.elapsed().as_secs_f64();
    assert_eq!(total, expected, "a sequential download came back short");
    println!("Finished in {sequential:.2} second(s)");

    let pool_dir = dir.join("pool");
    fs::create_dir_all(&pool_dir)?;
    println!("Downloads through a ThreadPoolExecutor (map):");
    let start = Instant::now();
    let mut total = 0;
    {
        let executor = ThreadPoolExecutor::default();
        let d = pool_dir.clone();
        for size in executor.map(move |photo: &str| download_image(addr, &d, photo), PHOTOS) {
            // The outer `Result` is the task's (a panic), the inner one the download's.
            total += size??;
        }
    }
    let concurrent = start.elapsed().as_secs_f64();
    assert_eq!(total, expected, "a pooled download came back short");
    assert_eq!(fs::read_dir(&pool_dir)?.count(), PHOTOS.len());
    println!("Finished in {concurrent:.2} second(s)");
    println!(
        "Speedup: {:.1}x ({} files, {:.1} MB in all)",
        sequential / concurrent,
        PHOTOS.len(),
        expected as f64 / 1e6
    );

    fs::remove_dir_all(&dir)?;
    drop(runtime);
    println!(
        "DEMO-RESULT {{\"scenario\":\"image_download\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
    Ok(())
}
