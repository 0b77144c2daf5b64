// hello: the sample plugin that `nd-notebook demo` builds, loads and calls.
//
// A Navidrome metadata agent written against Navidrome's Go PDK. It greets artists with the
// configured "greeting", keeps each biography in the cache for an hour, counts lookups in the
// kvstore (which survives restarts) and leaves every other metadata method unimplemented.
package main

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

type helloAgent struct{}

func init() {
	metadata.Register(helloAgent{})
	lifecycle.Register(helloAgent{})
}

// OnInit runs once after every load.
func (helloAgent) OnInit() error {
	pdk.Log(pdk.LogInfo, "hello plugin loaded")
	return nil
}

// GetArtistBiography answers from the cache when it can and counts every lookup.
func (helloAgent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	lookups, err := countLookup(req.Name)
	if err != nil {
		return nil, err
	}
	key := "bio:" + req.Name
	if bio, found, err := host.CacheGetString(key); err != nil {
		return nil, err
	} else if found {
		return &metadata.ArtistBiographyResponse{Biography: bio}, nil
	}
	greeting, ok := host.ConfigGet("greeting")
	if !ok || greeting == "" {
		greeting = "Hello"
	}
	bio := fmt.Sprintf("%s, %s! (written on lookup #%d)", greeting, req.Name, lookups)
	if err := host.CacheSetString(key, bio, 3600); err != nil {
		return nil, err
	}
	return &metadata.ArtistBiographyResponse{Biography: bio}, nil
}

// GetArtistURL points at the artist's page on an example site.
func (helloAgent) GetArtistURL(req metadata.ArtistRequest) (*metadata.ArtistURLResponse, error) {
	return &metadata.ArtistURLResponse{URL: "https://example.org/artist/" + url.PathEscape(req.Name)}, nil
}

// countLookup increments and returns the persistent lookup counter of one artist.
func countLookup(name string) (int, error) {
	key := "lookups:" + name
	n := 0
	raw, found, err := host.KVStoreGet(key)
	if err != nil {
		return 0, err
	}
	if found {
		n, _ = strconv.Atoi(string(raw))
	}
	n++
	if err := host.KVStoreSet(key, []byte(strconv.Itoa(n))); err != nil {
		return 0, err
	}
	return n, nil
}

func main() {}
