# stompws for C and C++: build and install the library as a C library is installed.
#
#     make                              the release library (target/release/)
#     make install PREFIX=/usr/local    headers, libraries, pkg-config file, CMake package
#     make help                         every target and variable
#
# Cargo does the building; .ci/install does the installing (`make install` runs it), so
# that the tests, CI and users install the same way. The command line `stompws` is built
# and installed with CLI=1, and by default whenever target/release/stompws exists (it was
# built before: `make cli` or `cargo build --release --features cli`), so that an
# installed command line is never older than the library installed beside it.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
CLI ?= $(if $(wildcard $(TARGET_DIR)/release/stompws),1,0)

# From the committed header, as .ci/install reads it (`.` stands for the `#`, which
# make versions before 4.3 would take for a comment).
VERSION := $(shell sed -n 's/^.define STOMPWS_VERSION "\(.*\)"$$/\1/p' include/stompws.h)
SONAME := libstompws.so.$(firstword $(subst ., ,$(VERSION)))
# Where uninstall looks: $(DESTDIR)$(PREFIX), as install wrote it.
DEST := $(DESTDIR)$(patsubst %/,%,$(PREFIX))

# The command line first: its build redoes the library as a dependency with other
# features, and the `lib` build after it leaves the files install wants in place.
ifeq ($(CLI),1)
all: cli lib
else
all: lib
endif

# The same command as .ci/install and tests/c_api.rs: one build that they all reuse
# (a plain `cargo build --release` would count as a different build and redo it). It
# also prints what libstompws.a needs from the system (the native-static-libs note).
lib:
	$(CARGO) rustc --release --lib -- --print native-static-libs

cli:
	$(CARGO) build --release --features cli --bin stompws

install:
	DESTDIR="$(DESTDIR)" bash .ci/install $(if $(filter 1,$(CLI)),--cli )"$(PREFIX)"

# Removes exactly what install wrote for this version: the SONAME link and
# libstompws.so only while they point at this version's library, so that another
# version installed beside it keeps its links.
uninstall:
	@test -n "$(VERSION)" || { echo "uninstall: no version in include/stompws.h" >&2; exit 1; }
	rm -f "$(DEST)/include/stompws.h" "$(DEST)/include/stompws.hpp"
	for link in "$(DEST)/lib/$(SONAME)" "$(DEST)/lib/libstompws.so"; do \
		if [ "$$(readlink "$$link")" = "libstompws.so.$(VERSION)" ]; then rm -f "$$link"; fi; \
	done
	rm -f "$(DEST)/lib/libstompws.so.$(VERSION)" "$(DEST)/lib/libstompws.a"
	rm -f "$(DEST)/lib/pkgconfig/stompws.pc"
	rm -f "$(DEST)/lib/cmake/stompws/stompwsConfig.cmake" \
		"$(DEST)/lib/cmake/stompws/stompwsConfigVersion.cmake"
	rmdir "$(DEST)/lib/cmake/stompws" 2>/dev/null || true
	rm -f "$(DEST)/share/stompws/stompws.supp"
	rmdir "$(DEST)/share/stompws" 2>/dev/null || true
	rm -f "$(DEST)/bin/stompws"

# What `make` built (the release build); `cargo clean` removes the debug and test
# builds too.
clean:
	$(CARGO) clean --release

help:
	@echo 'stompws $(VERSION): STOMP client library for C and C++'
	@echo
	@echo 'targets:'
	@echo '  all (default)  build the release library: $(TARGET_DIR)/release/libstompws.{so,a};'
	@echo '                 with CLI=1 the command line too'
	@echo '  cli            build the command line $(TARGET_DIR)/release/stompws'
	@echo '  install        build, then install into $$(DESTDIR)$$(PREFIX):'
	@echo '                   include/stompws.h, include/stompws.hpp,'
	@echo '                   lib/libstompws.so.$(VERSION), lib/$(SONAME), lib/libstompws.so, lib/libstompws.a,'
	@echo '                   lib/pkgconfig/stompws.pc, lib/cmake/stompws/ (find_package(stompws):'
	@echo '                   target stompws::stompws), share/stompws/stompws.supp'
	@echo '                   (valgrind suppressions), and with CLI=1 bin/stompws'
	@echo '  uninstall      remove those files again'
	@echo '  clean          remove the release build ($(CARGO) clean --release)'
	@echo '  help           this text'
	@echo
	@echo 'variables:'
	@echo '  PREFIX         where to install (now $(PREFIX))'
	@echo '  DESTDIR        staging root for packages (now $(DESTDIR)): files go to'
	@echo '                 $$(DESTDIR)$$(PREFIX), while stompws.pc and the CMake package name PREFIX'
	@echo '  CLI            1: build and install the command line too; default 1 when'
	@echo '                 $(TARGET_DIR)/release/stompws exists (now $(CLI))'
	@echo '  CARGO, CARGO_TARGET_DIR   as cargo reads them'
	@echo
	@echo 'then: cc app.c $$(pkg-config --cflags --libs stompws), or pkg-config --static for'
	@echo 'libstompws.a; in CMake: find_package(stompws) and target_link_libraries(app stompws::stompws)'

.PHONY: all lib cli install uninstall clean help
# Every target is a cargo run, and cargo takes one build at a time anyway.
.NOTPARALLEL:
