// Package abuseguard holds the domain of abuseguard: the customers and
// servers of a hosting provider, the detections made on their traffic, and
// the cases, blocks, statements and messages that follow from them, with the
// service interfaces the components implement.
//
// It imports only the standard library. Components (collector, detect,
// lifecycle, enforce, notify, web) depend on these types and interfaces and
// never on each other; cmd/abuseguard wires them together. See
// ../shared/DESIGN.md for the data flow and docs/ for the details.
package abuseguard
