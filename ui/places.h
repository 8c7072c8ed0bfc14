// Where the studio keeps and finds things: projects (the format is core/project), the last
// session's autosave, its resources, the shared data and its own data folder.
#pragma once

#include "project/project.h"

#include <QString>

namespace mabert::ui {

inline void save_project(const QString& path, const nlohmann::json& p) { project::save(path.toStdString(), p); }
inline nlohmann::json load_project(const QString& path) { return project::load(path.toStdString()); }

// $MABERT_RESOURCES, else the source tree's resources/ (compiled in), else next to the binary.
QString resources_dir();
// The shipped demo corpus.
QString demo_corpus();
// The trained models shipped in resources/models (run folders, documented in its README.md): every
// folder there with a config.json, by name.
QStringList shipped_models();
// The model a fresh start opens in the analysis views (the SST-2 fine-tuned encoder), and the
// sentence typed for it; empty when it is not shipped.
QString default_shipped_model();
QString default_sentence();
// $MABERT_SHARED_DATA, else ../shared/data beside the source tree when present; empty if none.
QString shared_data_dir();
// The studio's own folder for runs and scratch files (per user).
QString studio_data_dir();
// Where the last session is autosaved.
QString autosave_path();

}  // namespace mabert::ui
