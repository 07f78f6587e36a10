# GatewayBackup: `make run` and `make test` do all the set-up on a fresh Debian machine.
SWIFT ?= swift
PREFIX ?= /usr/local

.PHONY: all deps build run test bench fuzz crash-test fleet-test install deb format clean

all: build

## deps: install the Debian packages the build, the tests and the plugins need (only what is missing)
deps:
	@scripts/install-deps.sh

## build: debug build of gwbackup
build: deps
	$(SWIFT) build

## run: build, write a demo appliance, back it up, change it, restore it, and show what to try next
run: build
	@scripts/demo.sh

## test: install what is missing, start the test services, run every test
test: deps
	@scripts/test.sh

## bench: the mixed appliance (BENCH_MIB random + 80 MiB config text), the demo appliance, SFTP, the API under wrk, and the authenticated catalog of 500 backups, against the stock tools in the same run
bench: deps
	@scripts/bench.sh

## fuzz: libFuzzer campaigns on the parsers of outside input (FUZZ_RUNS, default 10^6 per target; or FUZZ_SECONDS)
fuzz: deps
	@scripts/fuzz.sh

## crash-test: SIGKILL real backups and restores (local and SFTP) at 200 points; 0 violations expected (CRASH_POINTS per scenario)
crash-test: deps
	@scripts/crash-test.sh

## fleet-test: 50 appliances (gwbackup serve on loopback) backed up by the Ansible collection's fleet playbook (FLEET_SIZE, FLEET_FORKS)
fleet-test: deps
	@scripts/fleet-test.sh

## install: release build installed under $(PREFIX) (binary, manifests, plugins)
install: deps
	$(SWIFT) build -c release --static-swift-stdlib
	install -D -m 0755 .build/release/gwbackup $(PREFIX)/bin/gwbackup
	install -D -m 0755 .build/release/gwbackup-plugin-guard $(PREFIX)/libexec/gwbackup/gwbackup-plugin-guard
	mkdir -p $(PREFIX)/share/gwbackup
	cp -R manifests plugins $(PREFIX)/share/gwbackup/
	rm -rf $(PREFIX)/share/gwbackup/plugins/sdk
	install -m 0755 .build/release/ntp-plugin $(PREFIX)/share/gwbackup/plugins/ntp/ntp-plugin

## deb: the Debian package (.build/deb/gwbackup_VERSION_ARCH.deb): binary, guard, manifests, plugins, man pages, completions, hardened units
deb: deps
	@scripts/build-deb.sh

## format: apply the checked-in swift-format configuration
format:
	$(SWIFT) format --in-place --recursive Sources Tests

clean:
	rm -rf .build demo
