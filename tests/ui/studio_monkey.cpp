// The GUI monkey: a seeded driver that does, at random, what a person can do with the studio's
// real widgets — compose (drop layers, type schedules, presets, undo, redo), start / pause /
// resume / stop training on the demo corpus, the recall demo, load runs and shipped models, type
// sentences and pads, switch every tab and view, knock layers out, export plots, save and open
// projects (good and corrupt), resize, answer dialogs, close the window mid-job — and checks the
// invariants after every action: the window answers, the training buttons agree with the worker,
// no registry row or run folder is half-written once a job has ended.
//
//   studio_monkey --seed 7 --actions 400          a seeded run (offscreen or under Xvfb)
//   studio_monkey --seed 7 --minutes 30           a campaign (scripts/gui_monkey.sh)
//   studio_monkey --replay tests/ui/monkey/x.log  the exact actions of a logged run
//
// Every action is first resolved to one line of text ("click pause", "schedule MMTX", …), written
// to the log (--log, flushed before it is done) and then performed; a failing run's log replays
// the same actions in the same order (the state they meet can differ only where training speed
// decides it). Exit status: 0 clean, 1 a finding (each printed with the action that preceded it).
#include "analysis_views.h"
#include "composer.h"
#include "data/corpus.h"
#include "experiments_panel.h"
#include "knockout_view.h"
#include "main_window.h"
#include "places.h"
#include "runs/registry.h"
#include "tokenize/tokenizer.h"
#include "train/checkpoint.h"
#include "train_panel.h"
#include "util/files.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include <QAbstractButton>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QLineEdit>
#include <QMenuBar>
#include <QPointer>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QUndoStack>

using namespace mabert;
using namespace mabert::ui;

namespace {

const QStringList kSchedules = {"MMTMMT", "T", "MT", "PPPP", "BTBT", "MMMM", "TTTT", "MMTMMTMMTMMT",
                                "", "MMX", "mmtt", "M M T", "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"};
const QStringList kSentences = {"the film was wonderful", "", "dull , dull , dull .", "[PAD] [PAD] a",
                                "  \t ", "naïve café — 東京 😀", "a", QString(600, 'x'), "the key is 42 ; the key ?"};
// Buttons the monkey does not press at random: a whole grid or an efficiency sweep is minutes of
// work that "stop" does not end (they have their own actions with small inputs, or none).
const QStringList kNoClick = {"grid_run", "profile_run"};

struct Finding {
  long action;
  QString what;
};

class Monkey : public QObject {
 public:
  Monkey(uint64_t seed, const QString& log_path) : rng_(seed), log_(log_path.toStdString(), std::ios::app) {
    root_ = tmp_.path();
    qputenv("MABERT_REGISTRY", (root_ + "/runs.db").toUtf8());
    TokenizerTrainOptions o;
    o.inputs = {demo_corpus().toStdString()};
    o.model_prefix = (root_ + "/tok").toStdString();
    o.vocab_size = 700;
    tokenizer_ = QString::fromStdString(data::train_tokenizer(o));
    // Dialogs (file choosers, warnings, "a run is going") are answered by this timer: a file
    // dialog gets a path in the scratch folder, a message box its default or Escape.
    // The answer is queued, not given inside the timer's slot: a dialog's accept() may open
    // another (a "replace the file?" box), whose answer needs the timer to fire again.
    connect(&closer_, &QTimer::timeout, this, [this] { QMetaObject::invokeMethod(this, [this] { answerDialog(); }, Qt::QueuedConnection); });
    closer_.start(50);
    openWindow();
  }
  ~Monkey() override { log_.flush(); }

  // One random action, resolved to its text.
  QString next() {
    const int n_kinds = 24;
    const int k = pick(n_kinds);
    switch (k) {
      case 0: return QString("tab %1").arg(pick(8));
      case 1: return QString("view %1 %2").arg(pick(16)).arg(pick(8));
      case 2: return "schedule " + kSchedules[pick(kSchedules.size())];
      case 3: return QString("drop %1 %2").arg(QString("MTPBLS")[pick(6)]).arg(pick(14));
      case 4: return QString("undo %1").arg(1 + pick(4));
      case 5: return QString("redo %1").arg(1 + pick(3));
      case 6: return QString("layer %1 %2 %3").arg(QStringList{"remove", "duplicate", "move"}[pick(3)]).arg(pick(14)).arg(pick(14));
      case 7: return QString("train %1 %2").arg(QStringList{"pretrain", "pretrain", "finetune", "evaluate"}[pick(4)]).arg(20 + pick(300));
      case 8: return "click pause";
      case 9: return "click stop";
      case 10: return QString("sentence %1").arg(pick(kSentences.size()));
      case 11: return QString("pads %1 %2").arg(pick(40)).arg(pick(2));
      case 12: return QString("knock %1").arg(pick(12));
      case 13: return "click any " + QString::number(pick(64));
      case 14: return QString("combo %1 %2").arg(pick(32)).arg(pick(16));
      case 15: return QString("check %1").arg(pick(16));
      case 16: return QString("load-run %1").arg(pick(8));
      case 17: return "export-plots";
      case 18: return QString("project %1 %2").arg(QStringList{"save", "open", "open-corrupt"}[pick(3)]).arg(pick(3));
      case 19: return QString("resize %1 %2").arg(480 + pick(1500)).arg(360 + pick(900));
      case 20: return QString("menu %1").arg(pick(64));
      case 21: return pick(6) == 0 ? "close-window" : QString("wait %1").arg(100 + pick(1500));
      case 22: return "click recall_demo";
      default: return QString("wait %1").arg(20 + pick(600));
    }
  }

  // Performs one action; returns false for a line it cannot read (a corrupt replay log).
  bool perform(const QString& line) {
    const QStringList a = line.split(' ');
    const QString& op = a[0];
    auto num = [&](int i) { return i < a.size() ? a[i].toInt() : 0; };
    if (op == "tab") {
      w_->tabs()->setCurrentIndex(num(1) % w_->tabs()->count());
    } else if (op == "view") {
      const auto tabs = w_->findChildren<QTabWidget*>();
      QTabWidget* t = tabs[num(1) % tabs.size()];
      if (t->count()) t->setCurrentIndex(num(2) % t->count());
    } else if (op == "schedule") {
      w_->composer()->setScheduleText(line.mid(9));
    } else if (op == "drop") {
      LayerList* s = w_->composer()->stack();
      std::unique_ptr<QMimeData> m(layer_mime("palette", a[1][0], -1));
      const int row = num(2) % (s->count() + 1);
      const QPoint pos = row < s->count() ? s->visualItemRect(s->item(row)).center() : QPoint(5, s->viewport()->height() - 2);
      s->handleDrop(m.get(), pos);
    } else if (op == "undo" || op == "redo") {
      for (int i = 0; i < num(1); ++i) op == "undo" ? w_->composer()->undoStack()->undo() : w_->composer()->undoStack()->redo();
    } else if (op == "layer") {
      Composer* c = w_->composer();
      const int n = c->stack()->count();
      if (n > 0) {
        if (a[1] == "remove") c->removeLayer(num(2) % n);
        else if (a[1] == "duplicate") c->duplicateLayer(num(2) % n);
        else c->moveLayer(num(2) % n, num(3) % n);
      }
    } else if (op == "train") {
      startTraining(a[1], num(2));
    } else if (op == "click") {
      QPushButton* b = a[1] == "any" ? anyButton(num(2)) : reveal(w_->findChild<QPushButton*>(a[1]));
      if (b && b->isVisible() && b->isEnabled()) b->click();
    } else if (op == "sentence") {
      w_->analysis()->sentence()->setText(kSentences[num(1) % kSentences.size()]);
    } else if (op == "pads") {
      w_->analysis()->pads()->setValue(num(1));
      w_->analysis()->leftPad()->setChecked(num(2) == 1);
    } else if (op == "knock") {
      if (QPushButton* b = w_->analysis()->knockOutView()->layerButton(num(1))) b->toggle();
    } else if (op == "combo") {
      const auto all = widgets<QComboBox>();
      if (!all.empty()) {
        QComboBox* c = all[num(1) % all.size()];
        if (c->count() && c->isEnabled()) c->setCurrentIndex(num(2) % c->count());
      }
    } else if (op == "check") {
      const auto all = widgets<QCheckBox>();
      if (!all.empty() && all[num(1) % all.size()]->isEnabled()) all[num(1) % all.size()]->toggle();
    } else if (op == "load-run") {
      loadRun(num(1));
    } else if (op == "export-plots") {
      // As File → Export all plots does it: one plot per turn of the event loop.
      w_->startExportAllPlots(root_ + "/plots", {"png", "svg"});
    } else if (op == "project") {
      const QString path = QString("%1/projects/p%2.mabert.json").arg(root_).arg(num(2));
      if (a[1] == "save") {
        w_->saveProject(path);
      } else if (a[1] == "open") {
        if (QFile::exists(path)) w_->openProject(path);
      } else {
        QDir().mkpath(root_ + "/projects");
        QFile f(root_ + "/projects/corrupt.mabert.json");
        f.open(QIODevice::WriteOnly);
        f.write(QByteArray("{\"composer\": {\"schedule\": 42, \"d_model\": \"wide\"}, \"train\": [").left(20 + num(2) * 15));
        f.close();
        if (w_->openProject(f.fileName())) finding("a corrupt project file was accepted");
      }
    } else if (op == "resize") {
      w_->resize(num(1), num(2));
    } else if (op == "menu") {
      QList<QAction*> acts;
      for (QAction* m : w_->menuBar()->actions())
        if (m->menu())
          for (QAction* x : m->menu()->actions())
            if (!x->isSeparator() && !x->menu() && !x->text().contains("Quit") && !x->text().contains("Exit")) acts << x;
      if (!acts.isEmpty()) acts[num(1) % acts.size()]->trigger();
    } else if (op == "close-window") {
      closeWindow();
      openWindow();
    } else if (op == "wait") {
      QTest::qWait(num(1));
    } else {
      return false;
    }
    return true;
  }

  // The invariants after an action. `quiet`: no job may be going (at the end of a run).
  void check(bool quiet = false) {
    TrainPanel* p = w_->trainPanel();
    // The training buttons agree with the panel's state (which follows the worker's signals).
    if (p->running() && p->button("pretrain")->isEnabled()) finding("a job is going and Pretrain is enabled");
    if (!p->running() && p->button("stop")->isEnabled()) finding("no job is going and Stop is enabled");
    if (quiet && p->running()) finding("a job is still going after stop");
    if (p->running()) return;  // the files of a job in progress may be half-written; checked when it ends
    if (!ended_ && !quiet) return;  // nothing was written since the last look
    ended_ = false;
    checkRunFolders();
    checkRegistry(quiet);
  }

  // An action that kept the GUI thread longer than this is a freeze (sanitizer builds scale it).
  void checkResponsive(const QString& line, double ms) {
    const int scale = std::max(1, qEnvironmentVariableIntValue("MABERT_TIME_SCALE"));
    if (ms > 5000.0 * scale && !line.startsWith("wait")) finding(QString("the window did not answer for %1 ms (%2)").arg(ms, 0, 'f', 0).arg(line));
    longest_stall_ms = std::max(longest_stall_ms, w_->stallMonitor()->maxStallMs());
  }

  // Ends every job (stop, then wait for the worker) and checks strictly.
  void finish() {
    if (w_->trainPanel()->running()) w_->trainPanel()->button("stop")->click();
    QElapsedTimer t;
    t.start();
    while (w_->trainPanel()->running() && t.elapsed() < 120000) QTest::qWait(50);
    check(true);
  }

  void record(const QString& line) {
    log_ << line.toStdString() << '\n';
    log_.flush();
  }
  void countAction(const QString& line) { ++counts_[line.section(' ', 0, 0)]; }

  long actions = 0;
  double longest_action_ms = 0, longest_stall_ms = 0;
  QString longest_action;
  std::vector<Finding> findings;
  std::map<QString, int> counts_, outcomes;
  int dialogs_answered = 0, windows_closed = 0, jobs_started = 0;
  MainWindow* window() const { return w_.get(); }

 private:
  int pick(qsizetype n) { return static_cast<int>(rng_() % static_cast<uint64_t>(std::max<qsizetype>(n, 1))); }

  template <class W>
  std::vector<W*> widgets() const {
    std::vector<W*> out;
    for (W* x : w_->findChildren<W*>())
      if (x->isVisible()) out.push_back(x);
    return out;
  }

  // Brings a named widget's page to the front, as a person navigates to a button to press it.
  template <class W>
  W* reveal(W* x) const {
    for (QWidget* c = x; c && c->parentWidget(); c = c->parentWidget())
      if (auto* stack = qobject_cast<QStackedWidget*>(c->parentWidget())) stack->setCurrentWidget(c);
    return x;
  }

  QPushButton* anyButton(int i) const {
    std::vector<QPushButton*> ok;
    for (QPushButton* b : widgets<QPushButton>())
      if (b->isEnabled() && !kNoClick.contains(b->objectName())) ok.push_back(b);
    return ok.empty() ? nullptr : ok[static_cast<size_t>(i) % ok.size()];
  }

  void startTraining(const QString& kind, int steps) {
    TrainPanel* p = w_->trainPanel();
    if (p->running()) return;
    // The path fields are set each time: random typing elsewhere may have changed them.
    p->field("corpus")->setText(demo_corpus());
    p->field("tokenizer")->setText(tokenizer_);
    p->field("runs_root")->setText(root_ + "/runs");
    p->restore({{"steps", steps}, {"batch", 8}, {"max_len", 32}, {"lr", 2e-3}, {"eval_every", steps / 2}});
    if (kind == "evaluate") {
      const QStringList runs = runFolders("finetune");
      if (!runs.isEmpty()) p->field("eval_run")->setText(runs.last());
    }
    if (kind == "finetune") {
      const QString sst2 = shared_data_dir() + "/glue/SST-2";
      p->field("data")->setText(QDir(sst2).exists() ? sst2 : QString());
      const QStringList pre = runFolders("pretrain");
      p->field("init")->setText(pre.isEmpty() ? QString() : pre.last());
    }
    QPushButton* b = p->button(kind);
    if (b->isEnabled()) {
      b->click();
      ++jobs_started;
    }
  }

  void loadRun(int i) {
    QStringList dirs = runFolders(QString());
    for (const QString& s : shipped_models()) dirs << s;
    if (dirs.isEmpty()) return;
    const QString d = dirs[i % dirs.size()];
    if (d.contains("/resources/models/")) w_->openShippedModel(d);
    else emit w_->loadRunRequested(d);
  }

  // Finished run folders under the monkey's runs root (sorted, so an index names the same one).
  QStringList runFolders(const QString& prefix) const {
    QStringList out;
    for (const QString& n : QDir(root_ + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
      if ((prefix.isEmpty() || n.startsWith(prefix)) && QFile::exists(root_ + "/runs/" + n + "/run.json")) out << root_ + "/runs/" + n;
    return out;
  }

  void answerDialog() {
    QWidget* m = QApplication::activeModalWidget();
    if (!m) return;
    // A dialog that did not take the answer (a path it refused) is given Escape the next time.
    const bool again = m == last_dialog_;
    last_dialog_ = m;
    if (!again) ++dialogs_answered;
    if (auto* fd = again ? nullptr : qobject_cast<QFileDialog*>(m)) {
      QDir().mkpath(root_ + "/chosen");
      const bool save = fd->acceptMode() == QFileDialog::AcceptSave;
      const bool dir = fd->fileMode() == QFileDialog::Directory;
      if (save || dir) {
        const QString chosen = root_ + "/chosen/" + (dir ? QString("dir%1").arg(dialogs_answered) : QString("out%1.png").arg(dialogs_answered));
        if (dir) QDir().mkpath(chosen);
        fd->selectFile(chosen);
        static_cast<QDialog*>(fd)->accept();  // QFileDialog's own accept() checks the path
      } else {
        fd->reject();
      }
    } else if (auto* d = qobject_cast<QDialog*>(m)) {
      d->reject();
    } else {
      m->close();
    }
  }

  void openWindow() {
    w_ = std::make_unique<MainWindow>(StudioOptions::scratch());
    w_->show();
    w_->trainPanel()->setRunsRoot(root_ + "/runs");
    connect(w_->trainPanel(), &TrainPanel::runFinished, this, [this](const TrainOutcome& o) {
      ended_ = true;
      ++outcomes[o.statusName()];
      if (qEnvironmentVariableIsSet("MONKEY_VERBOSE")) std::printf("[monkey] action %ld: a job ended %s: %s\n", actions, qPrintable(o.statusName()), qPrintable(o.message));
    });
    QTest::qWait(20);
  }

  // Closing mid-job: the window's destructor asks the worker to stop and joins it; the run it had
  // going must end as a stopped run with its files whole.
  void closeWindow() {
    ++windows_closed;
    longest_stall_ms = std::max(longest_stall_ms, w_->stallMonitor()->maxStallMs());
    w_.reset();
    checkRunFolders();
    checkRegistry(true);
  }

  void checkRunFolders() {
    QDirIterator it(root_ + "/runs", QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
      const QString f = it.next();
      if (f.contains(".tmp.")) finding("a temporary file outlived its job: " + f);
      if (f.endsWith("/run.json") || f.endsWith("/result.json")) {
        try {
          const auto j = nlohmann::json::parse(read_file(f.toStdString()));
          if (!j.is_object()) finding(f + " is not a JSON object");
        } catch (const std::exception& e) {
          finding("a half-written " + f + ": " + e.what());
        }
      }
    }
    QDirIterator ck(root_ + "/runs", {"ckpt-*"}, QDir::Dirs, QDirIterator::Subdirectories);
    while (ck.hasNext()) {
      const QString d = ck.next();
      const std::string problem = train::checkpoint_problem(d.toStdString());
      if (!problem.empty()) finding("checkpoint " + d + ": " + QString::fromStdString(problem));
    }
  }

  void checkRegistry(bool quiet) {
    try {
      runs::Registry reg((root_ + "/runs.db").toStdString());
      for (const auto& r : reg.list()) {
        static const QStringList known = {"running", "finished", "stopped", "early_stopped", "diverged", "failed"};
        const QString st = QString::fromStdString(r.status);
        if (!known.contains(st)) finding("registry row " + QString::fromStdString(r.id) + " has status " + st);
        if (quiet && st == "running") finding("registry row " + QString::fromStdString(r.id) + " still 'running' after its job ended");
      }
    } catch (const std::exception& e) {
      finding(QString("the registry cannot be read: ") + e.what());
    }
  }

  void finding(const QString& what) {
    findings.push_back({actions, what});
    std::fprintf(stderr, "[monkey] FINDING after action %ld: %s\n", actions, qPrintable(what));
  }

  std::mt19937_64 rng_;
  std::ofstream log_;
  QTemporaryDir tmp_;
  QString root_, tokenizer_;
  std::unique_ptr<MainWindow> w_;
  QTimer closer_;
  QPointer<QWidget> last_dialog_;
  bool ended_ = false;
};

struct Args {
  uint64_t seed = 1;
  long actions = 200;
  double minutes = 0;
  QString replay, log;
};

Args parse(const QStringList& argv) {
  Args a;
  for (int i = 1; i < argv.size(); ++i) {
    const QString k = argv[i];
    const QString v = i + 1 < argv.size() ? argv[i + 1] : QString();
    if (k == "--seed") a.seed = v.toULongLong(), ++i;
    else if (k == "--actions") a.actions = v.toLong(), ++i;
    else if (k == "--minutes") a.minutes = v.toDouble(), ++i;
    else if (k == "--replay") a.replay = v, ++i;
    else if (k == "--log") a.log = v, ++i;
    else {
      std::fprintf(stderr, "studio_monkey: unknown option '%s' (--seed N, --actions N, --minutes M, --replay LOG, --log FILE)\n", qPrintable(k));
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  // Line-buffered even into a file: the summary survives a process that dies at exit (ASan seed
  // 25 of the second campaign: LeakSanitizer's own tracer failed after the last action, and the
  // buffered summary was lost with it).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  QApplication app(argc, argv);
  QStandardPaths::setTestModeEnabled(true);
  register_worker_types();
  const Args args = parse(app.arguments());
  QStringList script;
  if (!args.replay.isEmpty()) {
    QFile f(args.replay);
    if (!f.open(QIODevice::ReadOnly)) {
      std::fprintf(stderr, "studio_monkey: cannot read %s\n", qPrintable(args.replay));
      return 2;
    }
    for (const QString& l : QString::fromUtf8(f.readAll()).split('\n'))
      if (!l.isEmpty() && !l.startsWith('#')) script << l;
  }
  const QString log = args.log.isEmpty() ? QDir::tempPath() + QString("/studio-monkey-%1.log").arg(args.seed) : args.log;
  QFile::remove(log);
  Monkey m(args.seed, log);
  m.record(QString("# studio_monkey --seed %1 (replay: studio_monkey --replay %2)").arg(args.seed).arg(log));
  QElapsedTimer clock;
  clock.start();
  const long total = script.isEmpty() ? args.actions : script.size();
  for (long i = 0;; ++i) {
    if (args.minutes > 0 ? clock.elapsed() > args.minutes * 60000 : i >= total) break;
    const QString line = script.isEmpty() ? m.next() : script[static_cast<int>(i)];
    m.record(line);
    QElapsedTimer t;
    t.start();
    if (!m.perform(line)) {
      std::fprintf(stderr, "studio_monkey: line %ld of %s is not an action: %s\n", i + 1, qPrintable(args.replay), qPrintable(line));
      return 2;
    }
    QCoreApplication::processEvents();
    const double ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
    if (ms > m.longest_action_ms && !line.startsWith("wait")) m.longest_action_ms = ms, m.longest_action = line;
    if (ms > 1000.0 * std::max(1, qEnvironmentVariableIntValue("MABERT_TIME_SCALE")) && !line.startsWith("wait"))
      std::fprintf(stderr, "[monkey] slow action %ld (%s): %.0f ms\n", i + 1, qPrintable(line), ms);  // over 1 s, scaled
    ++m.actions;
    m.countAction(line);
    m.checkResponsive(line, ms);
    m.check();
    m.window()->stallMonitor()->reset();  // the monkey's own checks are not the studio's stalls
  }
  m.finish();
  const double stall = std::max(m.longest_stall_ms, m.window()->stallMonitor()->maxStallMs());
  std::printf("[monkey] seed %llu: %ld actions in %.0f s, %d jobs started, %d dialogs answered, %d windows closed mid-session\n",
              static_cast<unsigned long long>(args.seed), m.actions, clock.elapsed() / 1000.0, m.jobs_started,
              m.dialogs_answered, m.windows_closed);
  std::printf("[monkey] longest action %.0f ms (%s); longest event-loop stall %.0f ms\n",
              m.longest_action_ms, qPrintable(m.longest_action), stall);
  QStringList parts;
  for (const auto& [k, n] : m.counts_) parts << QString("%1 %2").arg(k).arg(n);
  std::printf("[monkey] actions: %s\n", qPrintable(parts.join(", ")));
  QStringList ends;
  for (const auto& [k, n] : m.outcomes) ends << QString("%1 %2").arg(k).arg(n);
  std::printf("[monkey] jobs ended: %s\n", qPrintable(ends.isEmpty() ? QString("none") : ends.join(", ")));
  std::printf("[monkey] findings: %zu (log: %s)\n", m.findings.size(), qPrintable(log));
  return m.findings.empty() ? 0 : 1;
}
