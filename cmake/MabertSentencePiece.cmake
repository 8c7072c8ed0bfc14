# SentencePiece as the target mabert_sentencepiece: the static libraries that
# scripts/build_sentencepiece.sh builds from Debian's source package when they are there, else
# Debian's shared library with a warning. The shared library must not be loaded beside LibTorch:
# both export FLAGS_minloglevel, and SentencePiece's flag object is then constructed over c10's
# globals, turning every failed CAFFE_ENFORCE (a failed CPU allocation, say) into an abort. The
# static build renames SentencePiece's globals (see the script).
set(MABERT_SPM_PREFIX "${PROJECT_SOURCE_DIR}/.deps/sentencepiece" CACHE PATH
    "Where scripts/build_sentencepiece.sh installed the static SentencePiece")
add_library(mabert_sentencepiece INTERFACE)
if(EXISTS "${MABERT_SPM_PREFIX}/lib/libsentencepiece.a" AND EXISTS "${MABERT_SPM_PREFIX}/lib/libsentencepiece_train.a")
  find_package(Threads REQUIRED)
  target_include_directories(mabert_sentencepiece SYSTEM INTERFACE "${MABERT_SPM_PREFIX}/include")
  target_link_libraries(mabert_sentencepiece INTERFACE "${MABERT_SPM_PREFIX}/lib/libsentencepiece_train.a"
                                                       "${MABERT_SPM_PREFIX}/lib/libsentencepiece.a" Threads::Threads)
  set(MABERT_SPM_STATIC ON)
  message(STATUS "SentencePiece: static, from ${MABERT_SPM_PREFIX}")
else()
  target_link_libraries(mabert_sentencepiece INTERFACE sentencepiece sentencepiece_train)
  set(MABERT_SPM_STATIC OFF)
  message(WARNING "SentencePiece: Debian's shared library. Its exported flags overwrite LibTorch's (a failed "
                  "allocation then aborts instead of throwing); run scripts/build_sentencepiece.sh and reconfigure.")
endif()
