"""Capabilities and the ``nd_*`` exports Navidrome calls.

A capability is present when the module exports at least one of its functions. ``input`` and
``output`` are Go types in the capability's package (``None``: no input read / no output).
``INTERFACES`` names each package's ``Register`` parameter type.
"""

from __future__ import annotations

from .model import Capability, Export


def _e(name, capability, input, output, method, provider, since="seed", doc=""):
    return Export(name=name, capability=capability, input=input, output=output,
                  method=method, provider=provider, since=since, doc=doc)


_M = "MetadataAgent"
_S = "Scrobbler"
_W = "WebSocket"

EXPORTS: tuple[Export, ...] = (
    # MetadataAgent (package metadata): every method optional.
    _e("nd_get_artist_mbid", _M, "ArtistMBIDRequest", "*ArtistMBIDResponse",
       "GetArtistMBID", "ArtistMBIDProvider", doc="MusicBrainz id of an artist."),
    _e("nd_get_artist_url", _M, "ArtistRequest", "*ArtistURLResponse",
       "GetArtistURL", "ArtistURLProvider", doc="External URL of an artist."),
    _e("nd_get_artist_biography", _M, "ArtistRequest", "*ArtistBiographyResponse",
       "GetArtistBiography", "ArtistBiographyProvider", doc="Biography of an artist."),
    _e("nd_get_similar_artists", _M, "SimilarArtistsRequest", "*SimilarArtistsResponse",
       "GetSimilarArtists", "SimilarArtistsProvider", doc="Artists similar to an artist."),
    _e("nd_get_artist_images", _M, "ArtistRequest", "*ArtistImagesResponse",
       "GetArtistImages", "ArtistImagesProvider", doc="Images of an artist."),
    _e("nd_get_artist_top_songs", _M, "TopSongsRequest", "*TopSongsResponse",
       "GetArtistTopSongs", "ArtistTopSongsProvider", doc="Top songs of an artist."),
    _e("nd_get_album_info", _M, "AlbumRequest", "*AlbumInfoResponse",
       "GetAlbumInfo", "AlbumInfoProvider", doc="Description and links of an album."),
    _e("nd_get_album_images", _M, "AlbumRequest", "*AlbumImagesResponse",
       "GetAlbumImages", "AlbumImagesProvider", doc="Images of an album."),
    _e("nd_get_similar_songs_by_track", _M, "SimilarSongsByTrackRequest",
       "*SimilarSongsResponse", "GetSimilarSongsByTrack", "SimilarSongsByTrackProvider",
       doc="Songs similar to a track."),
    _e("nd_get_similar_songs_by_album", _M, "SimilarSongsByAlbumRequest",
       "*SimilarSongsResponse", "GetSimilarSongsByAlbum", "SimilarSongsByAlbumProvider",
       doc="Songs similar to an album."),
    _e("nd_get_similar_songs_by_artist", _M, "SimilarSongsByArtistRequest",
       "*SimilarSongsResponse", "GetSimilarSongsByArtist", "SimilarSongsByArtistProvider",
       doc="Songs similar to an artist."),
    # Scrobbler (package scrobbler): Register takes the full interface.
    _e("nd_scrobbler_is_authorized", _S, "IsAuthorizedRequest", "bool",
       "IsAuthorized", "Scrobbler", doc="Whether a user linked the external service."),
    _e("nd_scrobbler_now_playing", _S, "NowPlayingRequest", None,
       "NowPlaying", "Scrobbler", doc="A user started playing a track."),
    _e("nd_scrobbler_scrobble", _S, "ScrobbleRequest", None,
       "Scrobble", "Scrobbler", doc="A user listened to a track."),
    _e("nd_scrobbler_playback_report", _S, "PlaybackReportRequest", None,
       "PlaybackReport", "Scrobbler", since="head",
       doc="Playback state changed (starting, playing, paused, stopped, expired)."),
    # Lifecycle
    _e("nd_on_init", "Lifecycle", None, None, "OnInit", "InitProvider",
       doc="Called after every successful load; failure is only logged."),
    # Scheduler
    _e("nd_scheduler_callback", "Scheduler", "SchedulerCallbackRequest", None,
       "OnCallback", "CallbackProvider", doc="A schedule fired."),
    # WebSocket: every callback optional.
    _e("nd_websocket_on_text_message", _W, "OnTextMessageRequest", None,
       "OnTextMessage", "TextMessageProvider", doc="A text message arrived."),
    _e("nd_websocket_on_binary_message", _W, "OnBinaryMessageRequest", None,
       "OnBinaryMessage", "BinaryMessageProvider", doc="A binary message arrived."),
    _e("nd_websocket_on_error", _W, "OnErrorRequest", None,
       "OnError", "ErrorProvider", doc="A connection failed."),
    _e("nd_websocket_on_close", _W, "OnCloseRequest", None,
       "OnClose", "CloseProvider", doc="A connection closed."),
    # TaskWorker
    _e("nd_task_execute", "TaskWorker", "TaskExecuteRequest", "string",
       "OnTaskExecute", "TaskExecuteProvider",
       doc="Runs one task attempt; the output string becomes the task message."),
    # Lyrics (HEAD)
    _e("nd_lyrics_get_lyrics", "Lyrics", "GetLyricsRequest", "GetLyricsResponse",
       "GetLyrics", "Lyrics", since="head", doc="Lyrics of a track."),
    # SonicSimilarity (HEAD)
    _e("nd_get_sonic_similar_tracks", "SonicSimilarity", "GetSonicSimilarTracksRequest",
       "SonicSimilarityResponse", "GetSonicSimilarTracks", "SonicSimilarity", since="head",
       doc="Tracks that sound like a song."),
    _e("nd_find_sonic_path", "SonicSimilarity", "FindSonicPathRequest",
       "SonicSimilarityResponse", "FindSonicPath", "SonicSimilarity", since="head",
       doc="A sonic path of tracks from one song to another."),
)


def _cap(name: str, package: str, since: str = "seed", requires_all: bool = False):
    exports = tuple(e.name for e in EXPORTS if e.capability == name)
    return Capability(name=name, package=package, exports=exports, since=since,
                      requires_all=requires_all)


# In Navidrome's detection order.
CAPABILITIES: tuple[Capability, ...] = (
    _cap("MetadataAgent", "metadata"),
    _cap("Scrobbler", "scrobbler", requires_all=True),
    _cap("Lifecycle", "lifecycle"),
    _cap("Scheduler", "scheduler"),
    _cap("WebSocket", "websocket"),
    _cap("TaskWorker", "taskworker"),
    _cap("Lyrics", "lyrics", since="head", requires_all=True),
    _cap("SonicSimilarity", "sonicsimilarity", since="head", requires_all=True),
)

# Capability name -> the Go type its package's Register(impl) takes. For packages whose
# methods are optional it is an empty interface; otherwise the full interface.
INTERFACES: dict[str, str] = {
    "MetadataAgent": "Metadata",
    "Scrobbler": "Scrobbler",
    "Lifecycle": "Lifecycle",
    "Scheduler": "Scheduler",
    "WebSocket": "WebSocket",
    "TaskWorker": "TaskWorker",
    "Lyrics": "Lyrics",
    "SonicSimilarity": "SonicSimilarity",
}
