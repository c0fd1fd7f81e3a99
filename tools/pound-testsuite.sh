#!/bin/sh
# Run Pound's own test suite (Autotest groups and tests/poundharness.pl, Pound 4.23) against
# standby, through the `pound` and `poundctl` wrappers in contrib/pound-compat/.
#
#   tools/pound-testsuite.sh [TESTSUITE-ARGS...]     e.g. -j2, 10-20, -k include
#
# Pound is GPL: nothing of it enters this repository. Its source is fetched at tag v4.23
# into a temporary directory (or taken from POUND_SRC=DIR, a source tree of that version),
# its tests/ copied there, the testsuite script generated with autom4te, and run with
# AUTOTEST_PATH at the wrappers. Needs perl with JSON and IO::FDPass (Debian:
# libjson-perl libio-fdpass-perl), autom4te (autoconf) and git; the HTTPS groups need
# IO::Socket::SSL (libio-socket-ssl-perl) too. The temporary directory is
# kept for reading the failures (testsuite.dir/NNN/); its path is printed at the end.
# STANDBY and STANDBYCTL (default: this checkout's .venv/bin) name the programs run.
set -eu

repo=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
tag=v4.23
upstream=https://github.com/graygnuorg/pound.git
work=$(mktemp -d "${TMPDIR:-/tmp}/pound-testsuite.XXXXXX")

for tool in perl autom4te; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is needed" >&2; exit 2; }
done
for module in JSON IO::FDPass; do
    perl -M"$module" -e 1 2>/dev/null || {
        echo "$0: the perl module $module is needed (Debian: libjson-perl libio-fdpass-perl)" >&2
        exit 2
    }
done

if [ -z "${POUND_SRC:-}" ]; then
    git clone --quiet --depth 1 --branch "$tag" "$upstream" "$work/pound"
    POUND_SRC=$work/pound
fi
# A copy of tests/ of our own: runs never share a testsuite.dir, the source stays clean.
cp -R "$POUND_SRC/tests" "$work/tests"
cd "$work/tests"
rm -rf testsuite testsuite.dir testsuite.log atconfig atlocal

STANDBY=${STANDBY:-$repo/.venv/bin/standby}
STANDBYCTL=${STANDBYCTL:-$repo/.venv/bin/standby-poundctl}
export STANDBY STANDBYCTL
# AT_PACKAGE_VERSION is the version of the package under test, which the groups compare
# with the one the control interface reports (ctl-core, list): the tested program's own
# (`-V`'s first line ends with it: "standby 0.1.0", "pound (pound) 4.23"), so standby
# never has to claim to be Pound 4.23.
version=$("$STANDBY" -V 2>/dev/null | sed -n '1s/.* //p')
cat > package.m4 <<M4
m4_define([AT_PACKAGE_NAME],      [pound])
m4_define([AT_PACKAGE_TARNAME],   [pound])
m4_define([AT_PACKAGE_VERSION],   [${version:-${tag#v}}])
m4_define([AT_PACKAGE_STRING],    [pound ${tag#v}])
m4_define([AT_PACKAGE_BUGREPORT], [gray@gnu.org])
M4
autom4te --language=autotest -I . -o testsuite testsuite.at
chmod +x testsuite

# What configure would write; no libfakedns and no Lua (those groups skip), PCRE-style
# patterns on (standby's -pcre is Python's re).
cat > atconfig <<CONF
at_testdir='.'
abs_builddir='$work/tests'
at_srcdir='.'
abs_srcdir='$work/tests'
at_top_srcdir='..'
abs_top_srcdir='$work'
at_top_build_prefix='../'
abs_top_builddir='$work'
at_top_builddir=\$at_top_build_prefix
EXEEXT=''
AUTOTEST_PATH='tests'
SHELL=\${CONFIG_SHELL-'/bin/sh'}
CONF
cat > atlocal <<CONF
HARNESS="$work/tests/poundharness.pl"
PERL_HTTP_TINY_IPV4_ONLY=1
export PERL_HTTP_TINY_IPV4_ONLY
PCRE_AVAILABLE=1
INOTIFY_AVAILABLE=1
EVMON_AVAILABLE=1
LIBFAKEDNS=$work/no-libfakedns.so
PERL5LIB="$work/tests/perllib"
export PERL5LIB
POUNDCTL_CONF=
export POUNDCTL_CONF
CONF

status=0
./testsuite AUTOTEST_PATH="$repo/contrib/pound-compat" "$@" > run.out 2>&1 || status=$?

# One line per group: number, title, result; then the totals.
grep -E '^ *[0-9]+: ' run.out || true
echo
echo "ok: $(grep -cE '^ *[0-9]+: .* ok$' run.out || true)" \
    "failed: $(grep -cE '^ *[0-9]+: .*FAILED' run.out || true)" \
    "skipped: $(grep -cE '^ *[0-9]+: .*skipped' run.out || true)"
echo "details: $work/tests (run.out, testsuite.log, testsuite.dir/NNN/)"
exit "$status"
