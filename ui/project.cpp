#include "project.h"

#include "util/files.h"
#include "util/json_text.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#ifndef MABERT_RESOURCES_DIR
#define MABERT_RESOURCES_DIR ""
#endif
#ifndef MABERT_SHARED_DATA
#define MABERT_SHARED_DATA ""
#endif

namespace mabert::ui {

void save_project(const QString& path, const nlohmann::json& project) {
  nlohmann::json j = project;
  j["format"] = kProjectFormat;
  j["version"] = kProjectVersion;
  const QFileInfo fi(path);
  if (!fi.absoluteDir().exists() && !QDir().mkpath(fi.absolutePath()))
    throw std::runtime_error(path.toStdString() + ": cannot create the folder");
  write_file_atomic(path.toStdString(), j.dump(2) + "\n");
}

nlohmann::json load_project(const QString& path) {
  const std::string p = path.toStdString();
  nlohmann::json j = read_json_file(p);
  if (!j.is_object()) throw std::runtime_error(p + ": expected a JSON object");
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != kProjectFormat)
    throw std::runtime_error(p + ": field 'format': expected \"" + kProjectFormat + "\" (not a MaBERT Studio project)");
  // Compared as the JSON integer it is: get<int>() would wrap 2^32 + 1 into 1.
  const nlohmann::json& version = j.contains("version") ? j["version"] : nlohmann::json();
  if (!version.is_number_unsigned() || version.get<uint64_t>() < 1 || version.get<uint64_t>() > static_cast<uint64_t>(kProjectVersion))
    throw std::runtime_error(p + ": field 'version': expected an integer from 1 to " + std::to_string(kProjectVersion));
  for (const char* section : {"design", "data", "analysis"})
    if (j.contains(section) && !j[section].is_object())
      throw std::runtime_error(p + ": field '" + section + "': expected an object");
  if (j.contains("run") && !j["run"].is_string()) throw std::runtime_error(p + ": field 'run': expected a string");
  return j;
}

QString resources_dir() {
  const QString env = qEnvironmentVariable("MABERT_RESOURCES");
  if (!env.isEmpty()) return env;
  const QString built = QStringLiteral(MABERT_RESOURCES_DIR);
  if (!built.isEmpty() && QDir(built).exists()) return built;
  return QCoreApplication::applicationDirPath() + "/../share/mabert/resources";
}

QString demo_corpus() { return resources_dir() + "/demo/corpus.txt"; }

QString shared_data_dir() {
  const QString env = qEnvironmentVariable("MABERT_SHARED_DATA");
  if (!env.isEmpty()) return env;
  const QString built = QStringLiteral(MABERT_SHARED_DATA);
  if (!built.isEmpty() && QDir(built).exists()) return QDir(built).canonicalPath();
  return {};
}

QString studio_data_dir() {
  QString d = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  if (d.isEmpty()) d = QDir::homePath() + "/.local/share/mabert-studio";
  QDir().mkpath(d);
  return d;
}

QString autosave_path() {
  QString d = QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation);
  if (d.isEmpty()) d = QDir::homePath() + "/.config/mabert-studio";
  return d + "/last-session.mabert.json";
}

}  // namespace mabert::ui
