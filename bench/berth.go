package main

import (
	"net/http"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/badgerstore"
)

// newBerthHandler serves Berth with its durable defaults on a badgerstore
// rooted at dir.
func newBerthHandler(dir string) (http.Handler, func() error, error) {
	store, err := badgerstore.New(badgerstore.Options{Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	reg, err := registry.New(store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	h, err := httpapi.New(reg)
	if err != nil {
		reg.Close()
		store.Close()
		return nil, nil, err
	}
	return h, func() error {
		reg.Close()
		return store.Close()
	}, nil
}
