# offramp -- the two commands of the README:
#   make run    install missing Debian packages (as root), build, run the default plan
#   make test   same set-up, then the whole test suite (ctest)
# Also: make build, make test-asan (ASan+UBSan build + ctest), make deps, make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Debian packages: what building and running needs, and what the tests add.
DEPS_BUILD = cmake make gcc pkg-config libzmq3-dev libmsgpack-dev libncurses-dev \
             libopenblas-dev libsqlite3-dev libyaml-dev libsodium-dev libpng-dev \
             libjansson-dev
DEPS_TEST  = tmux python3 python3-numpy python3-torch sqlite3 iproute2 \
             clang libclang-rt-14-dev slurm-wlm munge
# libFuzzer targets (tests/fuzz): a separate clang configuration, ASan+UBSan.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: run test build test-asan fuzz deps deps-test clean

run: deps build
	./$(BUILD)/offramp run

test: deps deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DOFR_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

build:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# Bounded fuzzing of every target (ctest -L fuzz), seeded from
# tests/fuzz/corpus; executions per target in $(FUZZ_BUILD)/fuzz-work/executions.txt.
fuzz: deps deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOFR_FUZZ=ON \
	    -DOFR_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	rm -f $(FUZZ_BUILD)/fuzz-work/executions.txt
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L '^fuzz$$' -j $(JOBS)
	@cat $(FUZZ_BUILD)/fuzz-work/executions.txt

deps:
	@sh tools/ensure-deps.sh $(DEPS_BUILD)

deps-test:
	@sh tools/ensure-deps.sh $(DEPS_TEST)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
