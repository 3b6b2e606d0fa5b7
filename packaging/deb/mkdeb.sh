#!/usr/bin/env bash
# mkdeb.sh STAGE OUTDIR NGINX: turns STAGE, a tree `make install` filled,
# into OUTDIR/libnginx-mod-http-pprof_<version>_<arch>.deb for the Debian
# nginx that NGINX belongs to.  Run from the repository's top directory.
#
# STAGE must be .../debian/libnginx-mod-http-pprof: dpkg-shlibdeps reads
# the debian/control beside it and expects binaries in such a tree.
set -euo pipefail

stage=$1 out=$2 nginx=$3
pkg=libnginx-mod-http-pprof
here=packaging/deb

die() { echo "mkdeb: $*" >&2; exit 1; }

for tool in dpkg-deb dpkg-shlibdeps dpkg-parsechangelog dpkg-query strip \
            gzip md5sum; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
[ "$(basename "$stage")" = "$pkg" ] && [ "$(basename "$(dirname "$stage")")" = debian ] \
    || die "STAGE must end in debian/$pkg"

# The Debian version is the changelog's; its upstream part must be VERSION.
version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
upstream=$(cat VERSION)
[ "${version%-*}" = "$upstream" ] \
    || die "$here/changelog is at $version but VERSION says $upstream:" \
           "add a changelog entry"
arch=$(dpkg --print-architecture)

# The package takes the ABI of the nginx that loads the module: a Debian
# nginx provides nginx-abi-<version>-<n>, bumped whenever modules must be
# rebuilt.  So NGINX loads it here, whatever it was built against.
so=$stage/usr/lib/nginx/modules/ngx_http_pprof_module.so
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
printf 'load_module %s;\nerror_log stderr;\nevents {}\n' "$so" > "$check/nginx.conf"
"$nginx" -t -q -p "$check/" -c nginx.conf \
    || die "$nginx does not load $so: build it against that nginx"
owner=$(dpkg-query -S "$(readlink -f "$nginx")" 2>/dev/null | cut -d: -f1) \
    || die "$nginx belongs to no Debian package: build the .deb against" \
           "Debian's nginx (see docs/install.md for other nginx builds)"
abi=$(dpkg-query -W -f='${Provides}\n' "$owner" \
      | tr ',' '\n' | grep -o 'nginx-abi-[^ ]*' | head -1) \
    || die "$owner provides no nginx-abi-*"

# As dh_strip does: debug information and notes out of what is shipped.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$stage"/usr/lib/nginx/modules/*.so
strip --remove-section=.comment --remove-section=.note \
    "$stage"/usr/bin/pprof-audit

doc=$stage/usr/share/doc/$pkg
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -9n < "$here/changelog" > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"
install -D -m 0644 "$here/lintian-overrides" \
    "$stage/usr/share/lintian/overrides/$pkg"

# dpkg-shlibdeps finds the package's root by its DEBIAN directory.
rm -rf "$stage/DEBIAN"
install -d -m 0755 "$stage/DEBIAN"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" \
    > "$stage/../control"
shlibs=$(cd "$stage/../.." && dpkg-shlibdeps -O \
         "debian/$pkg/usr/lib/nginx/modules/ngx_http_pprof_module.so" \
         "debian/$pkg/usr/bin/pprof-audit" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependencies"

size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@ABI@/$abi/" -e "s/@SHLIBS@/$shlibs/" \
    "$here/control.in" > "$stage/DEBIAN/control"
for s in postinst prerm postrm; do
    install -m 0755 "$here/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

deb=$out/${pkg}_${version}_$arch.deb
rm -f "$out/${pkg}"_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb: Depends: $abi, $shlibs"
