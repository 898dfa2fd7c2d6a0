"""Benchmark: reading chat-archive images — QR decode and OCR latency per image size, and the md5 cache.

    .venv/bin/python -m bench.bench_media [--qr-rounds 30] [--ocr-rounds 5] [--sizes 720x1280,1080x1920,1440x3200]

Images are made here, offline: phone screenshots (PNG) of a chat — grey bubbles, lines of Chinese and Latin
text in the machine's CJK font (Pillow's own font without one), a QR code a third of the width wide — and a
camera photo (JPEG, noise) of each size. Measured, one thread, on what the worker runs:

- `qr`: `ingest.media.qr.decode_qr` on the file's bytes (image decode + zxing-cpp), median and p95 ms;
- `ocr`: `ingest.media.ocr.read_lines` (rapidocr, `--ocr-threads` onnxruntime threads), warm — the engine's
  first build is timed on its own — median and p95 ms, and images/s on one core;
- `dedup`: a stream of image records in which the same images are resent (a few codes and price lists sent
  to many customers, Zipf-like), read through `streams.media.MediaReader`: decodes per record.
- `--live` (needs `paodan stack up`): a fresh `paodan worker` with a media store; chat records at `--rate`
  for `--seconds`, first text only, then with `--image-share` of them image records (screenshots and photos,
  resent as above, OCR on): produce→alert p50/p99 of the *text* diversion records in each phase, and the
  worker's media counts.

The machine is shared: each figure is of this run only; compare figures from the same run.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import random
import statistics
import subprocess
import tempfile
import time


def _font(size: int):
    from PIL import ImageFont

    out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True).stdout.split("\n")
    files = [line.split(":")[0].strip() for line in out if line.strip()]
    return ImageFont.truetype(files[0], size) if files else ImageFont.load_default(size=size)


LINES = ("您好，请问这款还有货吗", "有的，今天下单包邮", "加我私人微信 wx: abc_123", "电话 138 0013 8000",
         "好的谢谢", "发个二维码给您")


def screenshot(w: int, h: int, qr: str | None, rng: random.Random) -> bytes:
    import zxingcpp
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), (237, 237, 237))
    draw = ImageDraw.Draw(img)
    font = _font(max(14, w // 28))
    y = h // 12
    for i, text in enumerate(LINES):
        left = i % 2 == 0
        tw = int(draw.textlength(text, font=font)) + w // 20
        x = w // 20 if left else w - tw - w // 20
        draw.rounded_rectangle((x, y, x + tw, y + font.size * 2), radius=12,
                               fill=(255, 255, 255) if left else (149, 236, 105))
        draw.text((x + w // 40, y + font.size // 2), text, fill="black", font=font)
        y += font.size * 3
    if qr:
        code = zxingcpp.create_barcode(qr, zxingcpp.BarcodeFormat.QRCode)
        tile = Image.fromarray(code.to_image(scale=max(2, w // 3 // 40))).convert("RGB")
        img.paste(tile, (w // 20, min(y, h - tile.height - 10)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photo(w: int, h: int, rng: random.Random) -> bytes:
    from PIL import Image, ImageFilter

    img = Image.effect_noise((w // 8, h // 8), 60).resize((w, h)).filter(ImageFilter.GaussianBlur(3)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def timed(fn, data: bytes, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(data)
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def row(name: str, ms: list[float]) -> str:
    return f"  {name:<28} median {statistics.median(ms):7.1f} ms   p95 {p95(ms):7.1f} ms   (n={len(ms)})"


def dedup(sends: int, distinct: int, rng: random.Random) -> None:
    """Images resent to many customers: how many decodes the md5 cache saves."""
    from config.media_rules import MediaRule
    from ingest.media.store import MediaStore
    from streams.media import MediaReader

    with tempfile.TemporaryDirectory() as root:
        store = MediaStore(root)
        md5s = []
        for i in range(distinct):
            data = screenshot(360, 640, f"https://u.wechat.com/Bench{i:04d}", rng)
            path = f"{root}/src.png"
            with open(path, "wb") as f:
                f.write(data)
            md5s.append(store.put(path))
        weights = [1 / (k + 1) for k in range(distinct)]  # a few images sent very often, most rarely
        reader = MediaReader(store, MediaRule(ocr=False))
        decodes = 0
        t = time.perf_counter()
        for i in range(sends):
            md5 = rng.choices(md5s, weights)[0]
            if reader.qr_cache.get(md5) is None:
                decodes += 1
            record = {"msgid": f"m{i}", "msgtype": "image", "image": {"md5sum": md5}, "from": "zs"}
            assert reader.as_text_record(record) is not None
        took = time.perf_counter() - t
    print(f"dedup: {sends} image records of {distinct} distinct images: {decodes} decodes "
          f"({decodes / sends:.1%} of records; {sends / took:.0f} records/s through the reader)")


async def live(rate: float, seconds: float, share: float, rng: random.Random) -> None:
    import asyncio
    import re
    from pathlib import Path

    import orjson
    from aiokafka import AIOKafkaProducer

    from bench.bench_e2e import DIVERSION, NORMAL, TOPIC, pct, record
    from config.settings import load
    from formats.topics import ALERTS
    from ingest.media.store import MediaStore
    from tests.live import Consumer, Worker, delete_app_topics, unique

    settings = load()
    tmp = Path(tempfile.mkdtemp(prefix="paodan-bench-media-"))
    store = MediaStore(tmp / "store")
    md5s = []
    for i in range(40):
        w, h = rng.choice([(720, 1280), (1080, 1920)])
        data = screenshot(w, h, f"https://u.wechat.com/Live{i:03d}" if i % 2 else None, rng) if i % 4 \
            else photo(w, h, rng)
        (tmp / "src").write_bytes(data)
        md5s.append(store.put(tmp / "src"))
    weights = [1 / (k + 1) for k in range(len(md5s))]
    worker = Worker(tmp, env={"PAODAN_MEDIA": str(store.root)}).start()
    alerts = await Consumer(settings.kafka, ALERTS).start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all", linger_ms=settings.producer_linger_ms)
    await producer.start()
    try:
        # Alternated, twice each: the machine is shared and its load drifts.
        for phase, images in [("text only", 0.0), (f"{share:.0%} images", share)] * 2:
            employees = [unique("blm_") for _ in range(max(50, int(rate * seconds // 20)))]
            sent, arrivals = {}, {}

            async def collect():
                while True:
                    batch = await alerts.consumer.getmany(timeout_ms=100)
                    now = time.monotonic()
                    for msgs in batch.values():
                        for m in msgs:
                            a = orjson.loads(m.value)
                            if a["employee_id"].startswith("blm_"):
                                arrivals.setdefault(a["evidence"][-1]["id"], now)

            collector = asyncio.create_task(collect())
            began, i, n_images = time.monotonic(), 0, 0
            while time.monotonic() - began < seconds / 2:
                emp = employees[i % len(employees)]
                ms = int(time.time() * 1000)
                if rng.random() < images:
                    n_images += 1
                    body = orjson.dumps({"msgid": f"bench-img-{emp}-{i}", "action": "send", "from": emp,
                                         "tolist": ["wmBENCHCUSTOMER"], "roomid": "", "msgtime": ms,
                                         "msgtype": "image", "corpid": "wwbench", "seq": i,
                                         "image": {"md5sum": rng.choices(md5s, weights)[0], "filesize": 1,
                                                   "sdkfileid": "x"}})
                else:
                    diversion = i % 10 == 3
                    body = record(i, emp, DIVERSION[i % 3] if diversion else NORMAL[i % len(NORMAL)], ms)
                    if diversion:
                        sent[f"bench-{emp}-{i}"] = time.monotonic()
                await producer.send(TOPIC, key=emp.encode(), value=body)
                i += 1
                delay = began + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.flush()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(arrivals.keys() & sent.keys()) < len(sent):
                await asyncio.sleep(0.2)
            collector.cancel()
            lat = [(arrivals[k] - sent[k]) * 1000 for k in sent if k in arrivals]
            print(f"live {phase}: {i} records ({n_images} images) at {rate:.0f}/s; text produce→alert "
                  f"p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms over {len(lat)} alerts "
                  f"({len(sent) - len(lat)} missing)")
        await asyncio.sleep(61)  # the worker logs its media counts once a minute
        counts = re.findall(r"media: .*", worker.log())
        print(f"worker {counts[-1] if counts else 'logged no media counts'}")
    finally:
        await producer.stop()
        await alerts.stop()
        worker.stop()
        await delete_app_topics(settings.kafka, worker.app_id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="720x1280,1080x1920,1440x3200")
    ap.add_argument("--qr-rounds", type=int, default=30)
    ap.add_argument("--ocr-rounds", type=int, default=5)
    ap.add_argument("--ocr-threads", type=int, default=1)
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--live", action="store_true", help="also the worker on the local stack (see above)")
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--image-share", type=float, default=0.1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.live:
        import asyncio

        asyncio.run(live(args.rate, args.seconds, args.image_share, rng))
        return

    from ingest.media.ocr import engine, read_lines
    from ingest.media.qr import decode_qr

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    if not args.no_ocr:
        t = time.perf_counter()
        engine(args.ocr_threads)
        print(f"OCR engine built in {(time.perf_counter() - t) * 1000:.0f} ms (once per reading thread)")
    for w, h in sizes:
        shot = screenshot(w, h, "https://u.wechat.com/EFxBenchPersonal", rng)
        pic = photo(w, h, rng)
        payloads, _ = decode_qr(shot)
        assert payloads == ["https://u.wechat.com/EFxBenchPersonal"], payloads
        print(f"{w}x{h}: screenshot PNG {len(shot) // 1024} KiB, photo JPEG {len(pic) // 1024} KiB "
              f"(md5 {hashlib.md5(shot).hexdigest()[:8]}…)")
        print(row("qr  screenshot", timed(decode_qr, shot, args.qr_rounds)))
        print(row("qr  photo (no code)", timed(decode_qr, pic, args.qr_rounds)))
        if not args.no_ocr:
            def ocr(data: bytes) -> None:
                read_lines(data, threads=args.ocr_threads)

            read_lines(shot, threads=args.ocr_threads)  # warm for this size
            ms = timed(ocr, shot, args.ocr_rounds)
            print(row("ocr screenshot", ms) + f"   {1000 / statistics.median(ms):.2f} images/s "
                  f"on {args.ocr_threads} thread(s)")
            print(row("ocr photo", timed(ocr, pic, args.ocr_rounds)))
    dedup(2000, 50, rng)


if __name__ == "__main__":
    main()
