module github.com/navidrome/navidrome/plugins/pdk/go

go 1.24

require github.com/extism/go-pdk v1.1.3

replace github.com/extism/go-pdk => ./_extism-go-pdk
