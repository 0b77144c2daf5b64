"""Go plugins built with the real toolchain and the bundled PDK, run on the emulated host."""

from __future__ import annotations

import pytest

import nd_notebook
from nd_notebook import Host
from nd_notebook.errors import NotImplementedByPluginError, PluginCallFailedError
from nd_notebook.package import read_package

pytestmark = pytest.mark.slow

AGENT = """
package main

import (
	"errors"

	extism "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func (agent) GetArtistURL(req metadata.ArtistRequest) (*metadata.ArtistURLResponse, error) {
	base, _ := extism.GetConfig("base")
	return &metadata.ArtistURLResponse{URL: base + req.Name}, nil
}

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	if req.Name == "" {
		return nil, errors.New("artist name is required")
	}
	seen, _ := host.KVStoreHas("bio:" + req.Name)
	if err := host.KVStoreSet("bio:"+req.Name, []byte(req.Name)); err != nil {
		return nil, err
	}
	if seen {
		return &metadata.ArtistBiographyResponse{Biography: "again: " + req.Name}, nil
	}
	return &metadata.ArtistBiographyResponse{Biography: "first: " + req.Name}, nil
}

func init() { metadata.Register(agent{}) }
"""


@pytest.fixture(scope="module")
def agent_wasm():
    return nd_notebook.build(AGENT)


@pytest.fixture
def agent(tmp_path, agent_wasm):
    with Host(tmp_path) as host:
        yield host.load(agent_wasm, name="agent", permissions="auto",
                        config={"base": "https://example.org/"})


def test_build_is_callable_from_the_package_and_accepts_extism_go_pdk_imports(agent_wasm):
    assert agent_wasm[:4] == b"\0asm"


def test_typed_helper_calls_the_export(agent):
    assert agent.metadata.artist_url(name="Nina") == {"url": "https://example.org/Nina"}


def test_plugin_state_lives_in_the_host_services_not_the_instance(agent):
    assert agent.metadata.artist_biography(name="Nina") == {"biography": "first: Nina"}
    assert agent.metadata.artist_biography(name="Nina") == {"biography": "again: Nina"}
    assert agent.kvstore.get("bio:Nina") == (b"Nina", True)


def test_plugin_error_is_plugin_call_failed_with_its_text(agent):
    with pytest.raises(PluginCallFailedError) as e:
        agent.metadata.artist_biography(name="")
    assert str(e.value) == "plugin call failed: artist name is required"


def test_unregistered_method_of_an_imported_capability_is_not_implemented(agent):
    assert agent.capabilities == ["MetadataAgent"]
    assert len([e for e in agent.exports if e.startswith("nd_get_")]) == 11
    with pytest.raises(NotImplementedByPluginError) as e:
        agent.call("nd_get_similar_artists", {"name": "x", "limit": 3})
    assert str(e.value) == "function not implemented: nd_get_similar_artists"


def test_exported_package_loads_back_identically(tmp_path, agent):
    path = agent.export(tmp_path / "agent.ndp")
    manifest, wasm, plugin_id = read_package(path)
    assert plugin_id == "agent"
    assert wasm == agent.wasm
    assert manifest.to_dict() == agent.manifest.to_dict()
    with Host(tmp_path / "other") as other:
        again = other.load(path)
        assert again.id == "agent" and again.permissions == agent.permissions
