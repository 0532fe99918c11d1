#!/usr/bin/env bash
# Packs this machine's Debian OpenMPI 4.1 (libmpi.so.40, mpiexec = orterun, its components and
# every library they need beyond glibc) into one relocatable folder, for a machine that has no MPI
# (the GPU machines: `mpiexec -np 4 epscope bench --backend nccl --launch mpi ...`).
#   scripts/pack_openmpi.sh DEST        # then, on the other machine: source DEST/env.sh
# Relocation: OpenMPI's own OPAL_PREFIX (Debian configures every directory under ${prefix}), PMIx's
# PMIX_PREFIX, and LD_LIBRARY_PATH for the libraries. Transport components that need
# InfiniBand/UCX/libfabric/PSM are left out: the run uses ob1 over shared memory and TCP.
set -euo pipefail
dest=${1:?usage: pack_openmpi.sh DEST}
arch=x86_64-linux-gnu
ompi=/usr/lib/$arch/openmpi
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib/$arch/openmpi/lib/openmpi3" "$dest/share" "$dest/deps" \
  "$dest/pmix/lib/pmix"
cp -L /usr/bin/orterun "$dest/bin/orterun"
ln -s orterun "$dest/bin/mpiexec"
for lib in libmpi.so.40 libmpi_cxx.so.40 libopen-rte.so.40 libopen-pal.so.40; do
  cp -L "/usr/lib/$arch/$lib" "$dest/lib/$arch/openmpi/lib/$lib"
done
skip='ucx|ofi|psm|openib|verbs|flux|java|monitoring'
for so in "$ompi"/lib/openmpi3/*.so; do
  name=$(basename "$so")
  [[ $name =~ $skip ]] || cp -L "$so" "$dest/lib/$arch/openmpi/lib/openmpi3/"
done
for so in "$ompi"/lib/libmca_common_*.so; do
  name=$(basename "$so")
  [[ $name =~ $skip ]] || cp -L "$so" "$dest/lib/$arch/openmpi/lib/"
done
cp -r /usr/share/openmpi "$dest/share/openmpi"
cp -L /usr/lib/$arch/pmix2/lib/pmix/*.so "$dest/pmix/lib/pmix/"
# Every library the programs and components load, except the C runtime every Linux has.
core='^(linux-vdso|libc|libm|libdl|librt|libpthread|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so'
for f in "$dest"/bin/orterun "$dest"/lib/$arch/openmpi/lib/*.so* \
  "$dest"/lib/$arch/openmpi/lib/openmpi3/*.so "$dest"/pmix/lib/pmix/*.so; do
  ldd "$f" | awk '$3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  [[ $name =~ $core ]] && continue
  [ -e "$dest/lib/$arch/openmpi/lib/$name" ] && continue
  cp -L "$path" "$dest/deps/$name"
done
cat >"$dest/env.sh" <<'ENV'
# source this file: OpenMPI from this folder, wherever it lies.
m=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OPAL_PREFIX=$m PMIX_PREFIX=$m/pmix PMIX_MCA_mca_base_component_path=$m/pmix/lib/pmix
export OPAL_SYSCONFDIR=$m/etc PATH=$m/bin:$PATH
export LD_LIBRARY_PATH=$m/lib/x86_64-linux-gnu/openmpi/lib:$m/deps:${LD_LIBRARY_PATH:-}
# Root in a throwaway machine; no InfiniBand: ob1 over shared memory (vader) and TCP.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 PMIX_MCA_pcompress_base_silence_warning=1
ENV
mkdir -p "$dest/etc"
du -sh "$dest"
