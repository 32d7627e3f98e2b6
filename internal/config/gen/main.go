// Command gen writes the files generated from the input table: action.yml
// docs/inputs.md and the inputs table in README.md. Run it from the repository root:
//
//	go run ./internal/config/gen
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinylabscom/mvm-verify/internal/config"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	action, err := config.ActionYAML()
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(filepath.Join(root, config.ReadmeFile))
	if err != nil {
		return err
	}
	readme, err = config.SpliceReadme(readme)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		config.ActionFile: action,
		config.DocsFile:   config.InputsMarkdown(),
		config.ReadmeFile: readme,
	}
	for name, data := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		fmt.Println("wrote", path)
	}
	return nil
}
