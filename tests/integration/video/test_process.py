"""Video ingestion: frames, face tracks and best frames.

Tracking maths and input checks run without models; the rest runs the default pack on the
shared clips in ../shared/data/videos (skipped cleanly when they are absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from matcher.errors import CorruptVideoError, EmptyFileError, InputError, UnsupportedMediaError
from matcher.video import VideoLimits, VideoOptions, analyze_video, sniff_video
from matcher.video.decode import check_video_bytes, scaled_size, upright
from matcher.video.tracking import FrameDetections, TrackerParams, iou_matrix, link_tracks, select_spread

WDA = ["WDA_AlexandriaOcasioCortez_000.mp4", "WDA_BobMenendez_000.mp4", "WDA_EdMarkey0_000.mp4", "WDA_KatieHill_000.mp4"]


# --------------------------------------------------------------------------- tracking maths (no models)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


A, B = _unit([1, 0, 0, 0]), _unit([0, 1, 0, 0])
A_NOISY = _unit([0.9, 0.1, 0.1, 0])


def _frame(t, *dets) -> FrameDetections:
    boxes = np.array([d[0] for d in dets], np.float32).reshape(-1, 4)
    emb = np.array([d[1] for d in dets], np.float32).reshape(-1, 4)
    return FrameDetections(t, boxes, emb)


def test_iou_matrix_of_identical_disjoint_and_half_overlapping_boxes():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 0, 15, 10]])
    assert np.allclose(iou_matrix(a, b), [[1.0, 0.0, 50 / 150]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_two_people_side_by_side_stay_in_separate_tracks():
    frames = [_frame(t / 3, ([10 + t, 10, 60 + t, 60], A), ([200 - t, 10, 250 - t, 60], B)) for t in range(6)]
    tracks = link_tracks(frames)
    assert len(tracks) == 2
    assert tracks[0] == [(i, 0) for i in range(6)] and tracks[1] == [(i, 1) for i in range(6)]


def test_overlapping_box_with_a_different_face_starts_a_new_track():
    # the same place on screen, but someone else (cut between two interviewees)
    frames = [_frame(0.0, ([10, 10, 60, 60], A)), _frame(0.33, ([12, 10, 62, 60], -A))]
    assert len(link_tracks(frames)) == 2


def test_face_that_leaves_and_returns_elsewhere_rejoins_its_track():
    frames = [
        _frame(0.0, ([10, 10, 60, 60], A)),
        _frame(0.33, ([12, 10, 62, 60], A_NOISY)),
        _frame(0.67),  # nobody
        _frame(5.0, ([300, 200, 350, 250], B)),  # someone else appears
        _frame(9.0, ([400, 300, 450, 350], A_NOISY), ([300, 200, 350, 250], B)),  # A is back, far away
    ]
    tracks = link_tracks(frames, TrackerParams(reid_similarity=0.363, max_gap_s=1.5))
    assert tracks == [[(0, 0), (1, 0), (4, 0)], [(3, 0), (4, 1)]]


def test_stale_track_is_not_continued_by_box_overlap_alone():
    weak = _unit([0.3, 0.95, 0, 0])  # similar enough for an overlap link, not for re-identification
    frames = [_frame(0.0, ([10, 10, 60, 60], A)), _frame(10.0, ([10, 10, 60, 60], weak))]
    assert len(link_tracks(frames, TrackerParams(max_gap_s=1.5))) == 2
    frames[1] = _frame(0.5, ([10, 10, 60, 60], weak))
    assert len(link_tracks(frames, TrackerParams(max_gap_s=1.5))) == 1


def test_best_faces_are_spread_in_time():
    times = [0.0, 0.1, 0.2, 0.3, 5.0, 9.9]
    quality = [0.9, 0.95, 0.92, 0.91, 0.5, 0.4]
    assert select_spread(times, quality, 3) == [1, 4, 5]  # not the four near-identical first frames
    assert select_spread(times, quality, 10) == list(range(6))
    assert select_spread([], [], 3) == []


def test_rotation_and_scaling_helpers():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)  # 2 rows, 3 columns
    assert upright(img, 0) is img
    assert upright(img, 90).shape == (3, 2, 1) and upright(img, 90)[0, 0, 0] == 2  # counter-clockwise
    assert upright(img, -90)[0, 0, 0] == 3  # clockwise (a phone held upright)
    assert upright(img, 180)[0, 0, 0] == 5
    assert scaled_size(1920, 1080, 1280) == (1280, 720)
    assert scaled_size(640, 360, 1280) == (640, 360)


def test_video_sniffing_uses_content_not_name():
    assert sniff_video(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41") == "mp4"
    assert sniff_video(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ") == "mp4"
    assert sniff_video(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01") == "webm"
    assert sniff_video(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_video(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic") is None  # a HEIC photo
    assert sniff_video(b"\xff\xd8\xff\xe0") is None


def test_empty_and_non_video_files_give_typed_4xx_errors():
    with pytest.raises(EmptyFileError) as empty:
        check_video_bytes(b"", VideoLimits())
    with pytest.raises(UnsupportedMediaError) as text:
        check_video_bytes(b"just some notes\n" * 10, VideoLimits())
    for exc in (empty.value, text.value):
        assert isinstance(exc, InputError) and 400 <= exc.status < 500


# --------------------------------------------------------------------------- real clips (models)


@pytest.fixture(scope="module")
def videos(shared_data) -> Path:
    folder = shared_data / "videos"
    if not (folder / WDA[0]).is_file():
        pytest.skip("shared test videos not found")
    return folder


@pytest.fixture(scope="module")
def options(services) -> VideoOptions:
    return VideoOptions.from_settings(services.settings, services.pack_info().same_person_threshold)


@pytest.fixture(scope="module")
def wda_results(videos, pipeline, options):
    return {name: analyze_video((videos / name).read_bytes(), pipeline, options) for name in WDA}


@pytest.mark.slow
def test_each_wda_clip_has_exactly_one_main_track(wda_results):
    for name, result in wda_results.items():
        main = result.main_track
        others = [t.detections for t in result.tracks if t is not main]
        print(name, "sampled", result.frames_sampled, "main", main.detections, "others", others)
        assert main.detections >= 0.8 * result.frames_sampled
        assert all(n <= max(2, 0.1 * main.detections) for n in others)
        assert 1 <= len(main.faces) <= 5 and not result.warnings


@pytest.mark.slow
def test_each_wda_track_matches_its_own_clip_best(wda_results):
    """Mean cosine between the kept faces of clip i's and clip j's main tracks (distinct faces
    only on the diagonal, so a face never scores against itself)."""
    embs = [np.stack([f.embedding for f in wda_results[n].main_track.faces]) for n in WDA]
    matrix = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            sims = embs[i] @ embs[j].T
            matrix[i, j] = sims[~np.eye(len(sims), dtype=bool)].mean() if i == j else sims.mean()
    print("\n" + "\n".join(f"{n[4:18]:>14} " + " ".join(f"{v:6.3f}" for v in row) for n, row in zip(WDA, matrix, strict=False)))
    for i in range(4):
        assert matrix[i].argmax() == i and matrix[:, i].argmax() == i


@pytest.mark.slow
def test_hamilton_clip_has_a_track_matching_lin_manuel_miranda(videos, pipeline, options, services, labelled_photos):
    photo = next(p for p in labelled_photos if "lin_manuel_miranda" in p.identity)
    reference = services.analyze_file(photo.path).faces[0].embedding
    result = analyze_video((videos / "short_hamilton_clip.mp4").read_bytes(), pipeline, options)
    scores = {t.id: max(float(f.embedding @ reference) for f in t.faces) for t in result.tracks}
    best = max(scores, key=scores.get)
    threshold = services.pack_info().same_person_threshold
    print(f"\nhamilton: {len(result.tracks)} tracks; best track {best} (main {result.main_track.id}) scores {scores[best]:.3f} vs threshold {threshold}")
    assert scores[best] > threshold
    assert best == result.main_track.id  # he is the one on screen most


@pytest.mark.slow
def test_crowd_clip_yields_several_tracks(videos, pipeline, options):
    result = analyze_video((videos / "facenet_pytorch_video.mp4").read_bytes(), pipeline, options)
    print(f"\ncrowd: {len(result.tracks)} tracks, {result.faces_embedded} detections, {result.frames_sampled} frames")
    assert len(result.tracks) >= 5
    assert all(t.start <= f.time <= t.end for t in result.tracks for f in t.faces)


class _CountingRecognizer:
    """The pack's recognizer, counting the crops it embeds."""

    def __init__(self, recognizer) -> None:
        self.recognizer, self.dim, self.rows = recognizer, recognizer.dim, 0

    def embed(self, crops: np.ndarray) -> np.ndarray:
        self.rows += len(crops)
        return self.recognizer.embed(crops)


@pytest.mark.slow
def test_mirror_tta_is_spent_on_the_faces_a_track_keeps_only(videos, pipeline, options):
    from dataclasses import replace

    from matcher.faces.pipeline import Pipeline

    assert pipeline.config.mirror_tta  # the default (MATCHER_MIRROR_TTA)
    counting = _CountingRecognizer(pipeline.recognizer)
    result = analyze_video((videos / "short_hamilton_clip.mp4").read_bytes(), Pipeline(pipeline.detector, counting, pipeline.config), options)
    kept = [f.face for t in result.tracks for f in t.faces]
    print(f"\nhamilton: {result.faces_embedded} detections, {len(kept)} kept, {counting.rows} crops embedded")
    # every detection once (to link tracks), the kept faces' mirror images once more
    assert len(kept) < result.faces_embedded and counting.rows == result.faces_embedded + len(kept)
    with_tta = pipeline.embed_crops(np.stack([f.crop for f in kept]))
    plain = pipeline.embed_crops(np.stack([f.crop for f in kept]), mirror=False)
    got = np.stack([f.embedding for f in kept])
    assert np.all(np.sum(got * with_tta, axis=1) > 0.9999)  # what a photo of that face would get
    assert np.min(np.sum(got * plain, axis=1)) < 0.999  # (and TTA does change them: the check can fail)
    # with MATCHER_MIRROR_TTA=false no mirror image is embedded at all
    counting = _CountingRecognizer(pipeline.recognizer)
    result = analyze_video((videos / WDA[0]).read_bytes(), Pipeline(pipeline.detector, counting, replace(pipeline.config, mirror_tta=False)), options)
    kept = [f.face for t in result.tracks for f in t.faces]
    assert kept and counting.rows == result.faces_embedded
    assert np.all(np.sum(np.stack([f.embedding for f in kept]) * pipeline.embed_crops(np.stack([f.crop for f in kept]), mirror=False), axis=1) > 0.9999)


def _faststart_copy(src: Path, dest: Path) -> None:
    """Remux with the index (moov) before the data, as web and messaging apps save MP4s."""
    import av

    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


@pytest.mark.slow
def test_truncated_video_gives_tracks_of_the_readable_part_and_a_warning(videos, pipeline, options, tmp_path):
    whole = tmp_path / "whole.mp4"
    _faststart_copy(videos / WDA[3], whole)
    data = whole.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    result = analyze_video(half.read_bytes(), pipeline, options)
    print(f"\ntruncated: {result.duration:.1f} s decoded, warnings {result.warnings}")
    assert result.main_track is not None and result.main_track.detections >= 5
    assert 2.0 < result.duration < 6.0
    assert result.warnings and "truncated" in result.warnings[0]


@pytest.mark.slow
def test_video_cut_before_its_index_gives_a_typed_error(videos, pipeline, options):
    # The shared clips keep their index (moov) at the end, like most cameras: half the bytes
    # hold no index, so nothing can be located; that is a 422, not a crash or an empty success.
    data = (videos / WDA[0]).read_bytes()
    with pytest.raises(CorruptVideoError) as info:
        analyze_video(data[: len(data) // 2], pipeline, options)
    assert info.value.status == 422


@pytest.mark.slow
def test_video_command_prints_tracks_and_typed_errors(videos, model_cache, monkeypatch, tmp_path):
    from matcher.cli.app import app

    monkeypatch.setenv("MATCHER_DATA_DIR", str(model_cache))
    monkeypatch.setenv("MATCHER_ORT_THREADS", "2")
    ok = CliRunner().invoke(app, ["video", str(videos / WDA[1]), "--json"], catch_exceptions=False)
    out = json.loads(ok.output)
    assert ok.exit_code == 0 and set(out) >= {"path", "tracks", "warnings"}
    assert set(out["tracks"][0]) == {"id", "start", "end", "detections", "faces"}
    assert set(out["tracks"][0]["faces"][0]) == {"time", "quality", "box"}
    (tmp_path / "empty.mp4").write_bytes(b"")
    for path, code in ((tmp_path / "empty.mp4", "empty_file"), (videos / "NOTES.md", "unsupported_media_type")):
        bad = CliRunner().invoke(app, ["video", str(path), "--json"], catch_exceptions=False)
        assert bad.exit_code == 1 and json.loads(bad.output)["error"]["code"] == code


@pytest.mark.slow
def test_index_stores_video_tracks_and_selects_the_main_track(videos, settings, tmp_path):
    from sqlalchemy import select

    from matcher.container import Services
    from matcher.ingest.archive import scan_folder
    from matcher.ingest.indexer import ArchiveIndexer
    from matcher.store.tables import Face, Media

    root = tmp_path / "archive"
    (root / "R1").mkdir(parents=True)
    (root / "R1" / "clip.mov").symlink_to(videos / "short_hamilton_clip.mp4")  # the content decides, not the name
    services = Services(settings)
    summary = ArchiveIndexer(services, "child").run(scan_folder(root))
    assert summary.new_media == 1 and summary.failed == 0
    with services.sessions() as session:
        media = session.scalars(select(Media)).one()
        faces = session.scalars(select(Face)).all()
    assert media.kind == "video" and media.face_count == len(faces)
    assert all(f.frame_time is not None and f.track is not None for f in faces)
    selected_tracks = {f.track for f in faces if f.selected}
    assert len(selected_tracks) == 1 and len({f.track for f in faces}) > 1
    assert len(services.index("child")) == sum(f.selected for f in faces)
