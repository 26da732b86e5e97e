# voxgate: plain make + pkg-config.
#   make          release build: build/voxgate
#   make test     ASan+UBSan build, unit and integration tests (in two lanes,
#                 see scripts/run-tests.sh; VG_TEST_JOBS=1 for one)
#   make bench    benchmarks (release build), figures into bench/results/
#   make run      the server with default settings
#   make demo     install, build, start the server and place a real call
#   make fmt      clang-format every source file
#   make fmt-check  fail when a source file is not clang-formatted
#   make fuzz     every libFuzzer target for FUZZ_SECONDS (default 60) each;
#                 FUZZ_TARGETS="sdp rtp" picks some (see tests/fuzz/README.md)
#   make tsan     ThreadSanitizer build (build/tsan) running the tests of the
#                 threaded parts: media threads, outbox, the worker's pipeline

CC      ?= cc
PKGS    := libre yaml-0.1 speexdsp spandsp libjwt jansson libcurl sqlite3 openssl \
           pocketsphinx sphinxbase espeak-ng libprotobuf-c opus usrsctp
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wvla -Wno-missing-field-initializers
CPPFLAGS_ALL := -D_GNU_SOURCE -DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -Isrc -Ibuild/gen \
                $(shell pkg-config --cflags $(PKGS))
LIBS    := $(shell pkg-config --libs $(PKGS)) -lflite_cmu_us_kal -lflite_usenglish \
           -lflite_cmulex -lflite -lpthread -lm
# libsrtp2, the SRTP of libwebrtc, is the reference srtpx's unit test and
# benchmark compare it with; voxgate itself does not link it.
SRTP_REF_LIBS := $(shell pkg-config --libs libsrtp2)

RELEASE_CFLAGS := -std=c11 -O2 -g $(WARN)
ASAN_CFLAGS    := -std=c11 -O1 -g -fno-omit-frame-pointer \
                  -fsanitize=address,undefined -fno-sanitize-recover=all $(WARN)

LIB_SRC  := $(wildcard src/*/*.c)
# LiveKit's protobuf messages: protoc-c writes their C once into build/gen/,
# and every build variant compiles that copy into its library objects.
PROTO    := $(wildcard src/livekit/*.proto)
GEN_C    := $(PROTO:src/%.proto=build/gen/%.pb-c.c)
GEN_H    := $(GEN_C:.c=.h)
FMT_SRC  := $(wildcard src/*.c src/*/*.c src/*/*.h tests/*/*.c tests/*/*.h \
              tests/tools/*/*.c tests/tools/*/*.h bench/*.c)
MAIN_SRC := src/main.c
UNIT_SRC := $(wildcard tests/unit/*_test.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard bench/*.c)
# One libFuzzer target per tests/fuzz/fuzz_<name>.c, seeds in
# tests/fuzz/corpus/<name>/.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

REL_OBJ  := $(LIB_SRC:%.c=build/obj/%.o) $(GEN_C:build/%.c=build/obj/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o) $(GEN_C:build/%.c=build/asan/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=build/tools/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=build/bench/%)
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o) $(GEN_C:build/%.c=build/fuzz/obj/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

# libFuzzer comes with clang only. The library is built with coverage
# instrumentation and ASan+UBSan; each target links libFuzzer's main.
FUZZ_CC     ?= clang
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer \
               -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=all $(WARN)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)

# ThreadSanitizer, also from clang's runtime. Only the tests that run more
# than one thread are worth its slowdown.
TSAN_CC     ?= clang
TSAN_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=thread $(WARN)
TSAN_OBJ    := $(LIB_SRC:%.c=build/tsan/obj/%.o) $(GEN_C:build/%.c=build/tsan/obj/%.o)
TSAN_UNITS  := media ring outbox webhook telnyx_api bot_line bridge pipeline log dtls engine
TSAN_BIN    := $(TSAN_UNITS:%=build/tsan/tests/%_test)
TSAN_SCRIPTS := media_echo_test.sh reinvite_test.sh shutdown_test.sh

.PHONY: all test bench run demo fmt fmt-check fuzz tsan clean
# Keep object files make would treat as intermediate and delete.
.SECONDARY:
all: build/voxgate

# All at once: a file's generated code names the types of those it imports.
$(GEN_C) $(GEN_H) &: $(PROTO)
	@mkdir -p build/gen/livekit
	protoc-c --c_out=build/gen/livekit -Isrc/livekit $(PROTO)

# Any source may include a generated header, so every compile waits for them
# (order-only: the .d files track who really includes what).
build/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/tsan/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(CPPFLAGS_ALL) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@

build/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@

build/voxgate: build/obj/src/main.o $(REL_OBJ)
	$(CC) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

build/asan/voxgate: build/asan/obj/src/main.o $(ASAN_OBJ)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LIBS)

build/asan/tests/%: build/asan/obj/tests/unit/%.o $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LIBS)

build/fuzz/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/%: build/fuzz/obj/tests/fuzz/%.o $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

build/tsan/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(CPPFLAGS_ALL) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@

build/tsan/voxgate: build/tsan/obj/src/main.o $(TSAN_OBJ)
	$(TSAN_CC) $(TSAN_CFLAGS) -o $@ $^ $(LIBS)

build/tsan/tests/%: build/tsan/obj/tests/unit/%.o $(TSAN_OBJ)
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(TSAN_CFLAGS) -o $@ $^ $(LIBS)

build/tools/%: tests/tools/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $< $(LIBS)

# The one tool that links the library: it writes frames with lkpb.
build/tools/lkpb_pack: tests/tools/lkpb_pack.c $(REL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

# The WebRTC test client: its own files in tests/tools/rtcc/, on the
# library's ICE, DTLS, SRTP, SDP, token and protobuf code.
RTCC_SRC := $(wildcard tests/tools/rtcc/*.c)
build/tools/rtc_client: tests/tools/rtc_client.c $(RTCC_SRC) \
                        $(wildcard tests/tools/rtcc/*.h) $(REL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -Itests/tools $(RELEASE_CFLAGS) -o $@ \
	    tests/tools/rtc_client.c $(RTCC_SRC) $(REL_OBJ) $(LIBS)

build/bench/%: bench/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $< $(LIBS)

# The benchmark of one module links that module's release objects.
# The VAD set's generator, the VAD's evaluator and its trainer link the library (tts,
# g711, wav; vad, echo_guard).
build/bench/vadset build/bench/vad_eval build/bench/vad_train: build/bench/%: bench/%.c $(REL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

build/bench/srtpx_bench: bench/srtpx_bench.c build/obj/src/webrtc/srtpx.o \
                          build/obj/src/webrtc/srtpx_packet.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS) $(SRTP_REF_LIBS)

build/%/tests/srtpx_test: LIBS += $(SRTP_REF_LIBS)

# rtp_load's --srtp: the server's own SDES and SRTP code.
build/bench/rtp_load: bench/rtp_load.c build/obj/src/webrtc/srtpx.o \
                      build/obj/src/webrtc/srtpx_packet.o \
                      build/obj/src/sip/sdes.o build/obj/src/core/b64.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

# wsc_send's cost per message: the WebSocket client and what it logs with.
build/bench/wsc_send: bench/wsc_send.c build/obj/src/net/wsc.o \
                      build/obj/src/net/wsc_codec.o \
                      build/obj/src/net/wsc_connect.o \
                      build/obj/src/net/wsc_frames.o \
                      build/obj/src/net/wsc_upgrade.o \
                      build/obj/src/net/url.o build/obj/src/core/log.o \
                      build/obj/src/core/utf8.o build/obj/src/core/form.o \
                      build/obj/src/core/mask.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

build/bench/opus_rx_cost: bench/opus_rx_cost.c build/obj/src/media/opus_rx.o \
                          build/obj/src/media/jitter.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(RELEASE_CFLAGS) -o $@ $^ $(LIBS)

test: build/asan/voxgate build/voxgate $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_BIN)
	@scripts/run-tests.sh

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_TARGETS)

tsan: build/tsan/voxgate $(TSAN_BIN) $(TOOL_BIN)
	@VOXGATE_BIN=build/tsan/voxgate VG_LOG_DIR=build/test-logs/tsan VG_TEST_JOBS=1 \
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 \
	suppressions=$(CURDIR)/tests/tsan.supp" \
	scripts/run-tests.sh $(TSAN_BIN) $(TSAN_SCRIPTS:%=tests/integration/%)

bench: build/voxgate $(TOOL_BIN) $(BENCH_BIN)
	@bench/run.sh

run: build/voxgate
	build/voxgate serve

demo:
	@scripts/demo.sh

fmt:
	clang-format -i $(FMT_SRC)

fmt-check:
	@clang-format --dry-run -Werror $(FMT_SRC) && \
	echo "fmt-check: $(words $(FMT_SRC)) files formatted"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
