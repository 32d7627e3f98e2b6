package cloudinit

// Schema is schema for the external tests, which may import what this
// package must not (the built-in suite in internal/config).
var Schema = schema
