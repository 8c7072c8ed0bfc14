// Where the shipped resources are (demo corpus, grids, trained models): one answer for the CLI and
// the studio.
#pragma once

#include <string>

namespace mabert {

// $MABERT_RESOURCES, else the source tree's resources/ (compiled in) when it exists, else
// <prefix>/share/mabert/resources beside an installed binary (<prefix>/bin).
std::string resources_dir();

}  // namespace mabert
