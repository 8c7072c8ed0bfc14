// mabert-studio: the desktop GUI. Opens on the last session, a given project, or the demo.
#include "main_window.h"

#include <QApplication>
#include <QCommandLineParser>

#include <ATen/Parallel.h>

#include "util/allocator.h"
#include "util/openmp_wait.h"

int main(int argc, char** argv) {
  mabert::bound_openmp_spinning(argv);  // train and analysis workers share the cores
  mabert::keep_freed_memory();
  QApplication app(argc, argv);
  QApplication::setApplicationName("mabert-studio");
  QApplication::setOrganizationName("mabert");
  QApplication::setApplicationVersion("0.1");

  QCommandLineParser cli;
  cli.setApplicationDescription("MaBERT Studio: design, train and inspect hybrid Transformer–Mamba encoders.");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption project({"p", "project"}, "Open a project file.", "file");
  QCommandLineOption fresh("fresh", "Start on the demo, ignoring the last session.");
  QCommandLineOption threads("threads", "Intra-op threads for LibTorch (0 = its default).", "n", "0");
  cli.addOptions({project, fresh, threads});
  cli.process(app);

  if (const int n = cli.value(threads).toInt(); n > 0) at::set_num_threads(n);
  mabert::ui::StudioOptions opt;
  opt.project = cli.value(project);
  opt.fresh = cli.isSet(fresh);
  mabert::ui::MainWindow w(opt);
  w.show();
  return QApplication::exec();
}
