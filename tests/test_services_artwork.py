"""Artwork: public image URLs whose HS256 token decodes to Navidrome's claims, through wasm."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from watplugins import host_call_plugin

import nd_notebook
from nd_notebook import Host

FUNCTIONS = ("artwork_getartisturl", "artwork_getalbumurl", "artwork_gettrackurl",
             "artwork_getplaylisturl")


@pytest.fixture(scope="module")
def artwork_wasm():
    return host_call_plugin(*FUNCTIONS)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "data") as h:
        yield h


@pytest.fixture
def plugin(host, artwork_wasm):
    return host.load(artwork_wasm, name="art", permissions="auto")


def url_of(plugin, function: str = "artwork_getartisturl", id: str = "123", size: int = 0) -> str:
    out = json.loads(plugin.call(f"call_{function}", json.dumps({"id": id, "size": size}),
                                 raw=True))
    return out["url"]


def token_of(url: str) -> str:
    return url.split("/share/img/")[1].split("?")[0]


def segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_url_is_the_public_image_path_with_the_size(plugin):
    url = url_of(plugin, size=300)
    assert url.startswith("http://localhost/share/img/") and url.endswith("?size=300")
    assert "/img/" in url


def test_size_zero_adds_no_query(plugin):
    assert "?" not in url_of(plugin, size=0)


def test_negative_size_adds_no_query(plugin):
    assert "?" not in url_of(plugin, size=-5)


def test_token_decodes_with_the_hosts_secret_to_navidromes_claims(host, plugin):
    claims = jwt.decode(token_of(url_of(plugin)), host.artwork_secret, algorithms=["HS256"])
    assert claims == {"id": "ar-123", "iss": "ND"}


def test_token_is_hs256_jwt_with_sorted_claims(plugin):
    token = token_of(url_of(plugin))
    assert json.loads(segment(token, 0)) == {"alg": "HS256", "typ": "JWT"}
    assert segment(token, 1) == b'{"id":"ar-123","iss":"ND"}'


@pytest.mark.parametrize("function, kind", [("artwork_getartisturl", "ar"),
                                            ("artwork_getalbumurl", "al"),
                                            ("artwork_gettrackurl", "mf"),
                                            ("artwork_getplaylisturl", "pl")])
def test_each_function_signs_its_kind_prefix(host, plugin, function, kind):
    claims = jwt.decode(token_of(url_of(plugin, function, "abc")), host.artwork_secret,
                        algorithms=["HS256"])
    assert claims["id"] == f"{kind}-abc"


@pytest.mark.parametrize("function, given", [("artwork_getartisturl", "ar-123"),
                                             ("artwork_getalbumurl", "al-456"),
                                             ("artwork_gettrackurl", "mf-789"),
                                             ("artwork_getplaylisturl", "pl-abc")])
def test_id_already_carrying_the_prefix_is_taken_verbatim(host, plugin, function, given):
    # Navidrome signs model.ArtworkID{Kind, ID: id}: its own tests pass "ar-123" and parse the
    # token back to kind "ar", id "ar-123" (ParseArtworkID splits at the first "-").
    claims = jwt.decode(token_of(url_of(plugin, function, given)), host.artwork_secret,
                        algorithms=["HS256"])
    assert claims["id"] == f"{given[:2]}-{given}"
    kind, _, parsed = claims["id"].partition("-")
    assert (kind, parsed) == (given[:2], given)


def test_token_does_not_verify_with_another_secret(plugin):
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token_of(url_of(plugin)), "not-the-secret" * 3, algorithms=["HS256"])


def test_a_given_secret_signs_the_tokens(host, plugin):
    host.artwork_secret = "a-secret-chosen-by-the-test-0123456789"
    claims = jwt.decode(token_of(url_of(plugin)), "a-secret-chosen-by-the-test-0123456789",
                        algorithms=["HS256"])
    assert claims["iss"] == "ND"



@pytest.mark.parametrize("function", ["artwork_getartisturl", "artwork_getalbumurl",
                                      "artwork_gettrackurl", "artwork_getplaylisturl"])
def test_an_empty_id_signs_no_id_claim(plugin, function):
    # ArtworkID.String() is "" for an empty ID, and Claims.ToMap() leaves an empty id out.
    assert segment(token_of(url_of(plugin, function, "")), 1) == b'{"iss":"ND"}'


def test_secrets_differ_between_hosts(tmp_path, host):
    with Host(tmp_path / "other") as other:
        assert other.artwork_secret != host.artwork_secret


def test_share_url_gives_scheme_host_and_path_prefix(host, plugin):
    host.share_url = "https://music.example.com/nd/"
    assert url_of(plugin, size=64).startswith("https://music.example.com/nd/share/img/")


def test_base_url_is_used_without_a_share_url(host, plugin):
    host.base_url = "https://nd.example.org:4533/music"
    assert url_of(plugin).startswith("https://nd.example.org:4533/music/share/img/")


@pytest.mark.parametrize(("share_url", "start"), [
    ("example.com", "example.com/share/img/"),  # url.Parse: a path, no scheme or host
    ("https://u:p@ex.com:8443/navi/?q=1", "https://ex.com:8443/navi/share/img/"),
], ids=["no-scheme", "user-and-query"])
def test_share_url_gives_what_go_parses_of_it(host, plugin, share_url, start):
    # publicurl.PublicURL copies the parsed ShareURL's Scheme and Host (never its user).
    host.share_url = share_url
    assert url_of(plugin).startswith(start)


def test_share_url_wins_over_base_url(host, plugin):
    host.base_url = "https://internal.example.org"
    host.share_url = "https://public.example.org"
    assert url_of(plugin).startswith("https://public.example.org/share/img/")


def test_no_existence_check(host, plugin):
    assert token_of(url_of(plugin, "artwork_getalbumurl", "no-such-album"))


# -- a Go plugin built with the bundled PDK ---------------------------------------------------

GO_ARTWORK = r'''
package main

import (
	pdk "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
)

func main() {}

//go:wasmexport artist
func artist() int32 {
	url, err := host.ArtworkGetArtistUrl(pdk.InputString(), 300)
	if err != nil {
		pdk.OutputString("error: " + err.Error())
		return 0
	}
	pdk.OutputString(url)
	return 0
}
'''


@pytest.fixture(scope="module")
def go_artwork_wasm():
    return nd_notebook.build(GO_ARTWORK)


@pytest.mark.slow
def test_go_plugin_gets_a_verifiable_artist_url(host, go_artwork_wasm):
    plugin = host.load(go_artwork_wasm, name="goart", permissions="auto")
    url = plugin.call("artist", "123")
    assert url.endswith("?size=300")
    assert jwt.decode(token_of(url), host.artwork_secret, algorithms=["HS256"]) == \
        {"id": "ar-123", "iss": "ND"}
