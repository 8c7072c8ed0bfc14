#include "experiments_panel.h"

#include "experiments/recall_figures.h"

#include "form_util.h"
#include "plot_util.h"
#include "places.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <set>

namespace mabert::ui {

ExperimentsPanel::ExperimentsPanel(QWidget* parent) : QWidget(parent) {
  auto* v = column_with_help(
      this,
      "An ablation grid pretrains each distinct encoder once and fine-tunes it on every task for every seed; "
      "the table shows mean ± std over the seeds, in the paper's layout. A grid resumes: finished cells are "
      "read back, not rerun. The shipped grids reproduce Tables 1, 3 and B4 at tiny scale.");
  auto* form = new QFormLayout;
  grid_ = new QLineEdit(resources_dir() + "/grids/table3-tiny.json");
  grid_->setObjectName("grid_file");
  auto* browse = new QPushButton("…");
  auto* row = new QHBoxLayout;
  row->addWidget(grid_, 1);
  row->addWidget(browse);
  form->addRow("Grid file", row);
  out_ = new QLineEdit(studio_data_dir() + "/grids/table3-tiny");
  form->addRow("Output folder", out_);
  v->addLayout(form);
  auto* bar = new QHBoxLayout;
  run_ = new QPushButton("Run / resume grid");
  run_->setObjectName("grid_run");
  stop_ = new QPushButton("Stop");
  stop_->setEnabled(false);
  open_ = new QPushButton("Open results…");
  open_->setObjectName("grid_open_results");
  open_->setToolTip("Show a finished grid's results.csv (or a shipped one, docs/results/*.csv) without running anything.");
  summary_ = new QLabel;
  bar->addWidget(run_);
  bar->addWidget(stop_);
  bar->addWidget(open_);
  bar->addWidget(summary_, 1);
  v->addLayout(bar);
  table_ = new QTableWidget;
  table_->setObjectName("grid_table");
  add_table_export(table_);
  auto* results = new QHBoxLayout;
  results->addWidget(table_, 3);
  auto* plot_box = new QVBoxLayout;
  width_task_ = new QComboBox;
  width_task_->setObjectName("grid_width_task");
  width_task_->setToolTip("The recall task column drawn: accuracy against model width, a curve per schedule.");
  plot_box->addWidget(width_task_);
  width_plot_ = make_plot(this, "Recall: accuracy against width", "d_model", "accuracy (mean ± sd over seeds)");
  width_plot_->setObjectName("grid_width_plot");
  width_plot_->setMinimumWidth(420);
  plot_box->addWidget(width_plot_, 1);
  results->addLayout(plot_box, 2);
  v->addLayout(results, 2);
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(2000);
  v->addWidget(log_, 1);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString p = QFileDialog::getOpenFileName(this, "Grid file", grid_->text(), "Grid (*.json)");
    if (!p.isEmpty()) {
      grid_->setText(p);
      out_->setText(studio_data_dir() + "/grids/" + QFileInfo(p).completeBaseName());
    }
  });
  connect(grid_, &QLineEdit::editingFinished, this, &ExperimentsPanel::describe);
  connect(out_, &QLineEdit::editingFinished, this, &ExperimentsPanel::describe);
  connect(width_task_, &QComboBox::currentTextChanged, this, &ExperimentsPanel::redrawWidthPlot);
  connect(run_, &QPushButton::clicked, this, [this] {
    describe();
    if (variants_.empty()) return;
    redraw();
    setBusy(true);
    emit runRequested(grid_->text(), out_->text());
  });
  connect(stop_, &QPushButton::clicked, this, &ExperimentsPanel::stopRequested);
  connect(open_, &QPushButton::clicked, this, [this] {
    const QString p = QFileDialog::getOpenFileName(this, "Grid results", out_->text(), "Results (*.csv)");
    QString error;
    if (!p.isEmpty() && !openResults(p, &error)) QMessageBox::warning(this, "Open results", error);
  });
  describe();
}

void ExperimentsPanel::describe() {
  variants_.clear(), tasks_.clear(), cells_.clear();
  grid_file_.reset();
  try {
    grid_file_ = experiments::Grid::load(grid_->text().toStdString());
    const experiments::Grid& g = *grid_file_;
    std::set<std::string> enc;
    for (const auto& v : g.variants) {
      variants_.push_back(v.name);
      if (g.pretraining) enc.insert(experiments::encoder_key(g, v));
    }
    tasks_ = g.tasks;
    cells_ = experiments::finished_cells(g, out_->text().toStdString());  // a finished grid opens without running
    const size_t total = g.variants.size() * g.tasks.size() * g.seeds.size();
    summary_->setText(QString("%1 variants, %2 encoders to pretrain, %3 tasks × %4 seeds = %5 cells; %6 finished in the output folder")
                          .arg(g.variants.size())
                          .arg(enc.size())
                          .arg(g.tasks.size())
                          .arg(g.seeds.size())
                          .arg(total)
                          .arg(cells_.size()));
    summary_->setStyleSheet("");
  } catch (const std::exception& e) {
    summary_->setText(e.what());
    summary_->setStyleSheet("color: #b00020;");
  }
  const QString keep = width_task_->currentText();
  {
    const QSignalBlocker quiet(width_task_);
    width_task_->clear();
    if (grid_file_)
      for (const auto& t : grid_file_->tasks)
        if (grid_file_->recall.count(t)) width_task_->addItem(QString::fromStdString(t));
    if (width_task_->findText(keep) >= 0) width_task_->setCurrentText(keep);
  }
  width_task_->setVisible(width_task_->count() > 0);
  width_plot_->setVisible(width_task_->count() > 0);
  redraw();
}

bool ExperimentsPanel::openResults(const QString& csv, QString* error) {
  try {
    std::vector<experiments::CellResult> cells = experiments::read_results_csv(csv.toStdString());
    variants_.clear(), tasks_.clear();
    for (const auto& c : cells) {
      if (std::find(variants_.begin(), variants_.end(), c.variant) == variants_.end()) variants_.push_back(c.variant);
      if (std::find(tasks_.begin(), tasks_.end(), c.task) == tasks_.end()) tasks_.push_back(c.task);
    }
    cells_ = std::move(cells);
    grid_file_.reset();  // the CSV alone: no variant configs, so no width plot
    width_task_->clear();
    width_task_->setVisible(false);
    width_plot_->setVisible(false);
    summary_->setText(QString("%1: %2 variants × %3 tasks, %4 scores (read, not run)")
                          .arg(QFileInfo(csv).fileName())
                          .arg(variants_.size())
                          .arg(tasks_.size())
                          .arg(cells_.size()));
    summary_->setStyleSheet("");
    redraw();
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

void ExperimentsPanel::setBusy(bool busy) {
  run_->setEnabled(!busy);
  stop_->setEnabled(busy);
}

void ExperimentsPanel::onCell(const experiments::CellResult& c) {
  const auto same = std::find_if(cells_.begin(), cells_.end(), [&](const experiments::CellResult& o) {
    return o.variant == c.variant && o.task == c.task && o.seed == c.seed;
  });
  if (same != cells_.end()) *same = c;
  else cells_.push_back(c);
  log_->appendPlainText(QString("%1 · %2 · seed %3: %4%5")
                            .arg(QString::fromStdString(c.variant), QString::fromStdString(c.task))
                            .arg(c.seed)
                            .arg(c.score, 0, 'f', 4)
                            .arg(c.reused ? " (done earlier)" : ""));
  redraw();
}

void ExperimentsPanel::onMessage(const QString& m) {
  if (!run_->isEnabled()) log_->appendPlainText(m);
}

void ExperimentsPanel::onFinished(const QString& status, const QString& markdown, const QString& message) {
  setBusy(false);
  log_->appendPlainText("grid " + status + (message.isEmpty() ? "" : ": " + message));
  if (!markdown.isEmpty()) log_->appendPlainText("\n" + markdown);
  emit gridFinished(status, markdown);
}

void ExperimentsPanel::redraw() {
  QStringList header{"variant"};
  for (const auto& t : tasks_) header << QString::fromStdString(t);
  QVector<QStringList> rows;
  for (const auto& v : variants_) {
    QStringList r{QString::fromStdString(v)};
    for (const auto& t : tasks_) {
      std::vector<double> s;
      for (const auto& c : cells_)
        if (c.variant == v && c.task == t) s.push_back(c.score);
      if (s.empty()) {
        r << "";
        continue;
      }
      double mean = 0, var = 0;
      for (double x : s) mean += x;
      mean /= static_cast<double>(s.size());
      for (double x : s) var += (x - mean) * (x - mean);
      const double sd = s.size() > 1 ? std::sqrt(var / static_cast<double>(s.size() - 1)) : 0.0;
      r << QString("%1 ± %2 (%3)").arg(mean, 0, 'f', 3).arg(sd, 0, 'f', 3).arg(s.size());
    }
    rows.push_back(r);
  }
  fill_table(table_, header, rows);
  redrawWidthPlot();
}

void ExperimentsPanel::redrawWidthPlot() {
  width_plot_->clearPlottables();
  if (!grid_file_ || width_task_->count() == 0) return replot_lazy(width_plot_);
  const auto curves = experiments::score_by_width(*grid_file_, cells_, width_task_->currentText().toStdString());
  for (size_t i = 0; i < curves.size(); ++i) {
    QCPGraph* g = width_plot_->addGraph();
    g->setName(QString::fromStdString(curves[i].name));
    style_series(g, static_cast<int>(i), 7);
    auto* bars = new QCPErrorBars(width_plot_->xAxis, width_plot_->yAxis);
    bars->removeFromLegend();
    bars->setDataPlottable(g);
    bars->setPen(g->pen());
    QVector<double> err;
    for (const auto& p : curves[i].points) {
      g->addData(p.x, p.mean);
      err << p.std;
    }
    bars->setData(err);
  }
  width_plot_->xAxis->setScaleType(QCPAxis::stLogarithmic);
  width_plot_->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
  QVector<double> ticks;
  QVector<QString> labels;
  for (int64_t w : experiments::grid_widths(*grid_file_)) ticks << static_cast<double>(w), labels << QString::number(w);
  auto fixed = QSharedPointer<QCPAxisTickerText>::create();
  fixed->addTicks(ticks, labels);
  width_plot_->xAxis->setTicker(fixed);
  if (!ticks.isEmpty()) width_plot_->xAxis->setRange(ticks.front() / 1.3, ticks.back() * 1.3);
  width_plot_->yAxis->setRange(-0.02, 1.02);
  width_plot_->legend->setVisible(!curves.empty());
  replot_lazy(width_plot_);
}

}  // namespace mabert::ui
