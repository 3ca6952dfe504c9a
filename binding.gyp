{
  "targets": [
    {
      "target_name": "quackmesh_native",
      "comment": "The CPU addon through node-gyp: the same sources and flags as CMakeLists.txt's build without CUDA (core/*.cc, gpu_stub.cc included, and binding/*.cc). The supported build is cmake-js (npm run build:native), which adds CUDA where nvcc exists; package.json keeps gypfile false so npm never runs this on its own. scripts/check-gyp.sh builds it in a copy of the package (node-gyp writes build/, which cmake-js owns) and runs the native tests against it.",
      "sources": [
        "<!@(node -p \"['core','binding'].flatMap(d=>require('fs').readdirSync('native/src/'+d).filter(f=>f.endsWith('.cc')).sort().map(f=>'native/src/'+d+'/'+f)).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags": ["-O3", "-march=x86-64-v2", "-fno-math-errno", "-Wno-psabi", "-Wno-missing-field-initializers", "-pthread"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti"],
      "ldflags": ["-pthread"]
    }
  ]
}
