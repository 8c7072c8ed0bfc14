#include "efficiency_view.h"

#include "form_util.h"
#include "plot_util.h"

#include "analysis/profile_compare.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace mabert::ui {

EfficiencyView::EfficiencyView(QWidget* parent) : QWidget(parent) {
  auto* v = column_with_help(
      this,
      "Measured on this machine: each point is the median of the timed repeats after warm-up; memory is the "
      "tensor allocator's peak (CUDA: the caching allocator). Attention grows with length², the scan linearly.");
  auto* bar = new QHBoxLayout;
  lengths_ = new QLineEdit("64, 128, 256, 512");
  lengths_->setToolTip("Sequence lengths, comma-separated (each at most the model's max length).");
  mode_ = new QComboBox;
  mode_->addItems({"inference", "train"});
  mode_->setToolTip("inference: one forward at the batch size; train: forward + MLM loss + backward + AdamW step.");
  repeats_ = make_spin(1, 100, 5);
  batch_ = make_spin(1, 512, 1);
  scan_ = new QComboBox;
  scan_->addItems({"auto", "ref", "cpu", "cuda"});
  scan_->setToolTip("Selective-scan path: auto picks the fastest for the device; ref is the plain LibTorch loop.");
  device_ = new QComboBox;
  device_->addItem("cpu");
  if (torch::cuda::is_available()) device_->addItem("cuda");
  run_ = new QPushButton("Measure");
  run_->setObjectName("profile_run");
  stop_ = new QPushButton("Stop");
  stop_->setEnabled(false);
  bar->addWidget(new QLabel("Lengths"));
  bar->addWidget(lengths_, 1);
  bar->addWidget(new QLabel("Mode"));
  bar->addWidget(mode_);
  bar->addWidget(new QLabel("Batch"));
  bar->addWidget(batch_);
  bar->addWidget(new QLabel("Repeats"));
  bar->addWidget(repeats_);
  bar->addWidget(new QLabel("Scan"));
  bar->addWidget(scan_);
  bar->addWidget(device_);
  bar->addWidget(run_);
  bar->addWidget(stop_);
  v->addLayout(bar);
  status_ = new QLabel;
  v->addWidget(status_);
  auto* split = new QSplitter(Qt::Vertical);
  auto* plots = new QSplitter(Qt::Horizontal);
  latency_ = make_plot(this, "Latency (median)", "sequence length", "ms");
  memory_ = make_plot(this, "Peak memory (measured)", "sequence length", "MB");
  for (auto* p : {latency_, memory_}) {
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    p->xAxis->setScaleType(QCPAxis::stLogarithmic);
    p->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    plots->addWidget(p);
  }
  split->addWidget(plots);
  table_ = new QTableWidget;
  table_->setObjectName("efficiency_table");
  add_table_export(table_);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  v->addWidget(split, 1);
  connect(run_, &QPushButton::clicked, this, &EfficiencyView::start);
  connect(stop_, &QPushButton::clicked, this, [this] {
    status_->setText("stopping after the current point…");
    emit stopRequested();
  });
}

void EfficiencyView::setDesign(const ModelConfig& cfg, bool valid) {
  cfg_ = cfg;
  valid_ = valid;
  run_->setEnabled(valid && !blocked_ && !stop_->isEnabled());
}

void EfficiencyView::setBlocked(bool blocked) {
  blocked_ = blocked;
  run_->setToolTip(blocked ? "A training run is going: timings now would measure the contention. Wait for it to end."
                           : "Measure the design, all-T and all-M at each length.");
  run_->setEnabled(valid_ && !blocked_ && !stop_->isEnabled());
}

QStringList EfficiencyView::schedules() const {
  const QString s = QString::fromStdString(cfg_.schedule);
  QStringList out{s};
  for (const QString& other : {QString(s.size(), 'T'), QString(s.size(), 'M')})
    if (!out.contains(other)) out << other;
  return out;
}

analysis::ProfileOptions EfficiencyView::options() const {
  analysis::ProfileOptions o;
  o.lengths.clear();
  for (const auto& part : lengths_->text().split(',', Qt::SkipEmptyParts)) {
    bool ok = false;
    const int L = part.trimmed().toInt(&ok);
    if (ok && L > 0) o.lengths.push_back(L);
  }
  o.repeats = repeats_->value();
  o.batch = batch_->value();
  o.mode = analysis::parse_profile_mode(mode_->currentText().toStdString());
  o.scan = scan_->currentText().toStdString();
  o.device = parse_device(device_->currentText().toStdString());
  return o;
}

void EfficiencyView::start() {
  const auto o = options();
  if (o.lengths.empty()) {
    status_->setText("Give at least one length, e.g. 128, 256, 512.");
    return;
  }
  ModelConfig cfg = cfg_;
  int64_t longest = 0;
  for (auto L : o.lengths) longest = std::max(longest, L);
  cfg.max_len = std::max(cfg.max_len, longest);  // the profile builds fresh models; positions must reach
  points_.clear();
  csv_.clear();
  redraw();
  run_->setEnabled(false);
  stop_->setEnabled(true);
  status_->setText(QString("measuring %1 × %2 lengths…").arg(schedules().join(", ")).arg(o.lengths.size()));
  emit profileRequested(cfg, schedules(), o);
}

void EfficiencyView::onPoint(const analysis::ProfilePoint& p) {
  points_.push_back(p);
  status_->setText(QString("%1 at %2 tokens: %3")
                       .arg(QString::fromStdString(p.schedule))
                       .arg(p.length)
                       .arg(p.error.empty() ? QString("%1 ms").arg(p.median_ms, 0, 'f', 2) : QString::fromStdString(p.error)));
  redraw();
}

void EfficiencyView::onDone(const QString& csv) {
  csv_ = csv;
  stop_->setEnabled(false);
  run_->setEnabled(valid_ && !blocked_);
  status_->setText(QString("done: %1 points (ratios against all-T in the table)").arg(points_.size()));
  redraw();
  emit done();
}

void EfficiencyView::redraw() {
  const QStringList sched = schedules();
  latency_->clearGraphs();
  memory_->clearGraphs();
  for (int i = 0; i < sched.size(); ++i) {
    auto* gl = latency_->addGraph();
    auto* gm = memory_->addGraph();
    const QString name = i == 0 ? sched[i] + " (design)" : sched[i];
    for (auto* g : {gl, gm}) {
      g->setName(name);
      style_series(g, i, 8);  // coinciding curves (equal memory) stay visible
    }
    for (const auto& p : points_) {
      if (QString::fromStdString(p.schedule) != sched[i] || !p.error.empty()) continue;
      gl->addData(static_cast<double>(p.length), p.median_ms);
      if (p.peak_bytes >= 0) gm->addData(static_cast<double>(p.length), static_cast<double>(p.peak_bytes) / 1048576.0);
    }
  }
  auto ticks = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  for (const auto& p : points_) ticks->addTick(static_cast<double>(p.length), QString::number(p.length));
  for (auto* p : {latency_, memory_}) {
    if (!points_.empty()) p->xAxis->setTicker(ticks);
    p->rescaleAxes();
    p->xAxis->scaleRange(1.15);
    p->yAxis->setRangeLower(0);
    p->yAxis->setRangeUpper(p->yAxis->range().upper * 1.1);
    replot_lazy(p);
  }
  // Table: one row per point, with the ratio against all-T at the same length.
  QVector<QStringList> rows;
  const std::string all_t(cfg_.schedule.size(), 'T');
  for (const auto& p : points_) {
    const double r = analysis::time_ratio(points_, p.schedule, all_t, p.length);
    const QString ratio = r > 0 ? QString::number(r, 'f', 3) : QString();
    rows.push_back({QString::fromStdString(p.schedule), QString::number(p.length), QString::number(p.median_ms, 'f', 3),
                    QString::number(p.min_ms, 'f', 3), QString::number(p.max_ms, 'f', 3),
                    p.peak_bytes >= 0 ? QString::number(p.peak_bytes / 1048576.0, 'f', 2) : "—",
                    p.rss_bytes >= 0 ? QString::number(p.rss_bytes / 1048576.0, 'f', 2) : "—",
                    p.gflops > 0 ? QString::number(p.gflops, 'f', 1) : "—", ratio, QString::fromStdString(p.error)});
  }
  fill_table(table_, {"schedule", "length", "median ms", "min ms", "max ms", "peak MB", "RSS growth MB", "GFLOP/s",
                      "time / all-T", "error"},
             rows);
}

}  // namespace mabert::ui
