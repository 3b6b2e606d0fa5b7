# ngx_pprof_module: `make run` starts a demo gateway, `make test` runs every
# test.  Both install what they need from Debian first.

SHELL   := /bin/bash
ROOT    := $(CURDIR)
BUILD   := $(ROOT)/build
NGX_SRC ?= /usr/share/nginx/src
NGINX   ?= /usr/sbin/nginx
MODULE  := $(BUILD)/ngx_http_pprof_module.so
TARGET  := $(BUILD)/pprof-target
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything a fresh Debian machine lacks for building, testing and the demo.
DEB_PACKAGES := gcc make pkg-config perl openssl ca-certificates curl \
    nginx nginx-dev libssl-dev libpcre2-dev zlib1g-dev \
    libprotobuf-c-dev protobuf-c-compiler golang-go \
    libcmocka-dev libio-socket-ssl-perl libjansson-dev

# Debian builds its nginx with these; the module is built the same way.
NGX_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
    -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC

CORE_HDRS := $(wildcard policy/*.h auth/*.h proxy/*.h)
CORE_SRCS := $(wildcard policy/*.c auth/*.c proxy/*.c)
GLUE      := $(wildcard ngx_pprof_module/*.c ngx_pprof_module/*.h)

CORE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
    -g -O1 -I$(ROOT)
CORE_LIBS   := -lssl -lcrypto -lpcre2-8 -ljansson
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer

UNIT_TESTS := $(patsubst t/unit/%.c,%,$(wildcard t/unit/test_*.c))
UNIT_PLAIN := $(addprefix $(BUILD)/unit/plain/,$(UNIT_TESTS))
UNIT_SAN   := $(addprefix $(BUILD)/unit/san/,$(UNIT_TESTS))

.PHONY: all deps module target tools unit integration test run bench clean

all: module

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing from Debian:$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; \
	fi

# nginx-dev ships headers and configure, not a tree to build in: copy it.
$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && source ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt='$(NGX_CC_OPT)' --with-ld-opt='$(NGX_LD_OPT)' \
	    --add-dynamic-module=$(ROOT) > $(BUILD)/configure.log \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(CORE_SRCS) $(CORE_HDRS) $(GLUE)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_pprof_module.so $@

module: deps $(MODULE)

$(TARGET): t/target/main.go t/target/go.mod
	mkdir -p $(BUILD)/go-cache
	cd t/target && GOCACHE=$(BUILD)/go-cache GOFLAGS=-mod=mod GOPROXY=off \
	    go build -o $(TARGET) .

target: deps $(TARGET)

# Tests sign their own tokens with the tool library of t/tools/.
TOOL_SRCS := t/tools/jwt_sign.c
TOOL_HDRS := t/tools/jwt_sign.h

$(BUILD)/unit/plain/%: t/unit/%.c t/unit/unit.h t/unit/unit_strings.h $(CORE_SRCS) $(CORE_HDRS) \
	    $(TOOL_SRCS) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	@echo "cc $@"
	@$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_SRCS) $(TOOL_SRCS) -lcmocka \
	    $(CORE_LIBS)

$(BUILD)/unit/san/%: t/unit/%.c t/unit/unit.h t/unit/unit_strings.h $(CORE_SRCS) $(CORE_HDRS) \
	    $(TOOL_SRCS) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	@echo "cc (asan, ubsan) $@"
	@$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) -o $@ $< $(CORE_SRCS) $(TOOL_SRCS) \
	    -lcmocka $(CORE_LIBS)

# pprof-audit verify LOG [--pubkey PEM]: the audit trail's verifier.
AUDIT_SRCS := tools/pprof_audit.c $(wildcard proxy/*.c policy/*.c)

$(BUILD)/pprof-audit: $(AUDIT_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ $(AUDIT_SRCS) $(CORE_LIBS)

tools: deps $(BUILD)/pprof-audit

# Signs test tokens and prints JWKs for the integration tests.
$(BUILD)/pprof-jwt: t/tools/pprof_jwt.c $(TOOL_SRCS) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ t/tools/pprof_jwt.c $(TOOL_SRCS) \
	    -lssl -lcrypto -ljansson

# Every unit test twice: as built, and under ASan and UBSan.
unit: deps $(UNIT_PLAIN) $(UNIT_SAN)
	@set -e; for t in $(UNIT_PLAIN) $(UNIT_SAN); do \
	    echo "== $$t"; $$t; \
	done

integration: module target tools $(BUILD)/pprof-jwt
	PPROF_MODULE=$(MODULE) PPROF_TARGET=$(TARGET) PPROF_NGINX=$(NGINX) \
	    PPROF_JWT=$(BUILD)/pprof-jwt PPROF_AUDIT=$(BUILD)/pprof-audit \
	    prove -I t/lib t/

test: unit integration

run: module target tools
	bash t/demo/run.sh

bench: module target
	bash t/bench/run.sh

clean:
	rm -rf $(BUILD)
