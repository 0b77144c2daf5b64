module github.com/navidrome/navidrome/plugins/pdk/go

go 1.24
