"""Video ingestion (flow c): decode and sample frames, detect with the photo Pipeline, link
detections into face tracks, keep each track's best faces."""

from matcher.video.decode import VideoLimits, sniff_video
from matcher.video.process import (
    Track,
    TrackFace,
    VideoOptions,
    VideoResult,
    analyze_video,
)
from matcher.video.tracking import TrackerParams

__all__ = ["Track", "TrackFace", "TrackerParams", "VideoLimits", "VideoOptions", "VideoResult", "analyze_video", "sniff_video"]
