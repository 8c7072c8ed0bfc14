#include "places.h"

#include "util/resources.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#ifndef MABERT_SHARED_DATA
#define MABERT_SHARED_DATA ""
#endif

namespace mabert::ui {

QString resources_dir() { return QString::fromStdString(mabert::resources_dir()); }

QString demo_corpus() { return resources_dir() + "/demo/corpus.txt"; }

QStringList shipped_models() {
  QStringList out;
  const QDir dir(resources_dir() + "/models");
  for (const QString& name : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
    if (QFileInfo::exists(dir.filePath(name) + "/config.json")) out << dir.filePath(name);
  return out;
}

QString default_shipped_model() {
  const QString d = resources_dir() + "/models/mabert-tiny-sst2";
  return QFileInfo::exists(d + "/config.json") ? d : QString();
}

QString default_sentence() {
  // SST-2 is lower-cased, and so is what its model reads best.
  return "the acting is wonderful, but the story is a dull and predictable mess.";
}

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
