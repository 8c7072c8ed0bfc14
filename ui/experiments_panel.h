// Experiments: run (or resume) an ablation grid on the training thread and watch its table
// (variants × tasks, mean ± std over seeds) fill cell by cell; the table exports to CSV and the
// Markdown of the paper layout is shown when the grid ends. The cells already finished in the
// output folder are read back as soon as a grid is chosen, so a finished grid's results open
// without running it. A grid with recall tasks also shows accuracy against width, a curve per
// schedule, for the task column chosen (Zoology's figure), live as cells finish.
#pragma once

#include "worker.h"

#include <QWidget>

#include <optional>

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableWidget;

namespace mabert::ui {

class ExperimentsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ExperimentsPanel(QWidget* parent = nullptr);
  QLineEdit* gridEdit() const { return grid_; }
  QLineEdit* outEdit() const { return out_; }
  QTableWidget* table() const { return table_; }
  QCustomPlot* widthPlot() const { return width_plot_; }
  QComboBox* widthTask() const { return width_task_; }
  size_t cellCount() const { return cells_.size(); }
  // A results.csv (a finished grid's, or a shipped one such as docs/results/table3-tiny.csv) shown
  // in the table without running anything; false with *error (naming the file and line) otherwise.
  bool openResults(const QString& csv, QString* error = nullptr);
  void setBusy(bool busy);

 public slots:
  void onCell(const mabert::experiments::CellResult& c);
  void onFinished(const QString& status, const QString& markdown, const QString& message);
  void onMessage(const QString& m);

 signals:
  void runRequested(const QString& grid, const QString& out);
  void stopRequested();
  void gridFinished(const QString& status, const QString& markdown);

 private:
  void describe();
  void redraw();
  void redrawWidthPlot();
  QLineEdit *grid_, *out_;
  QPushButton *run_, *stop_, *open_;
  QLabel* summary_;
  QTableWidget* table_;
  QPlainTextEdit* log_;
  QComboBox* width_task_;
  QCustomPlot* width_plot_;
  std::optional<experiments::Grid> grid_file_;
  std::vector<experiments::CellResult> cells_;
  std::vector<std::string> variants_, tasks_;
};

}  // namespace mabert::ui
