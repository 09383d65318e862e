//go:build !linux

package network

import "errors"

var errUnsupported = errors.New("pod network namespaces need Linux")

func createNetNS(string) error { return errUnsupported }

func removeNetNS(string) error { return errUnsupported }

func isNetNS(string) bool { return false }
