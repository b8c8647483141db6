# The two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help run test lint fmt build bench e2e netbox-compat fixtures invoke

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

run: ## build and start `nzj serve` on the embedded store (NZJ_LISTEN, default 127.0.0.1:8080)
	$(CARGO) build -p nzj
	exec ./target/debug/nzj serve

test: ## install and start every peer the tests need (moto, Zabbix 6.0 and 7.0, NetBox 4.7, Chromium), then run all tests
	infra/chromium.sh
	NZJ_PEERS_NETBOX=1 infra/with-peers.sh tests/run-all.sh

lint: ## rustfmt, clippy (warnings are errors), cfn-lint and `sam validate --lint` on template.yaml
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	infra/aws-tools.sh cfn-lint --include-checks I -- template.yaml
	infra/aws-tools.sh sam validate --lint --template template.yaml --region us-east-1

fmt: ## format the code
	$(CARGO) fmt --all

LAMBDAS := $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml))

build: ## release builds: every Lambda function for arm64 with cargo-lambda (zip per function, sizes reported), and the nzj binary
	rustup target add aarch64-unknown-linux-gnu
	infra/aws-tools.sh cargo-lambda lambda build --release --arm64 --output-format zip $(addprefix -p ,$(LAMBDAS))
	@for f in $(LAMBDAS); do ls -l target/lambda/$$f/bootstrap.zip | awk -v f=$$f '{printf "  %-20s %6.1f MB zipped\n", f, $$5 / 1e6}'; done
	$(CARGO) build --release --locked -p nzj
	@ls -l target/release/nzj | awk '{printf "target/release/nzj: %.1f MB\n", $$5 / 1e6}'

invoke: ## invoke one Lambda function locally through cargo-lambda's emulator: FN=<function> EVENT=events/<function>.json (the function's NZJ_*/AWS_* environment from yours; README "Local testing of the functions")
	infra/lambda-local.sh invoke $(FN) $(EVENT)

e2e: ## only the end-to-end tests (in make test too): a real NetBox 4.7 and Zabbix 7.0 through nzj serve
	NZJ_PEERS_NETBOX=1 NZJ_PEERS_ZABBIX=7.0 NZJ_PEERS_AWS=0 infra/with-peers.sh $(CARGO) test --locked -p nzj --test e2e -- --ignored

netbox-compat: ## the real-NetBox tests against NetBox source trees at other 4.x tags (PyPI has 4.7 only): NETBOX_SOURCES="dir..."
	NZJ_PEERS_ZABBIX=7.0 NZJ_PEERS_AWS=0 infra/with-peers.sh infra/netbox-compat.sh $(NETBOX_SOURCES)

fixtures: ## capture the per-device NetBox fixtures (tests/fixtures/netbox-4.7-rest) from a running NetBox: NB_URL, NB_TOKEN (infra/netbox-up.sh starts one)
	infra/capture-netbox-fixtures.py

bench: ## benchmarks, figures not pass/fail: webhook intake rate; a plan over 50,000 host configs (NZJ_BENCH_CONFIGS); SyncHostsNow on a real Zabbix 6.0 (NZJ_BENCH_HOSTS, default 1000); a no-op sync with 200 of 1,200 devices in scope on a real NetBox 4.7
	$(CARGO) bench --locked -p nzj-jobs --bench webhook
	$(CARGO) bench --locked -p nzj-jobs --bench plan
	NZJ_PEERS_ZABBIX=6.0 NZJ_PEERS_AWS=0 NZJ_PEERS_NETBOX=1 infra/with-peers.sh $(CARGO) bench --locked -p nzj-jobs --bench sync --bench scope
