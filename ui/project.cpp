#include "project.h"

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
