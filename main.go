// Command mvm-verify proves the mvm microVM stack works on real KVM-capable
// hosts. See README.md.
package main

import (
	"os"

	"github.com/tinylabscom/mvm-verify/internal/cli"
)

func main() { os.Exit(cli.Main()) }
