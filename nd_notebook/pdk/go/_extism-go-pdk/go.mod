module github.com/extism/go-pdk

go 1.24

require github.com/navidrome/navidrome/plugins/pdk/go v0.0.0
